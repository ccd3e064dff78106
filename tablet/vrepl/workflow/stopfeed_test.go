package workflow

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proto/vreplicationpb"
	"github.com/mosaicdb/mosaic/tablet/tmclient"
	"github.com/mosaicdb/mosaic/topo"
	"github.com/mosaicdb/mosaic/topo/memstore"
)

// stoppingTablet is a target primary's VReplication service as stopFeed
// sees it: it reports the workflow's stream running until it has seen
// the record STOPPED and then answered lag more times (the stream takes
// a while to end), or forever when lag is negative.
type stoppingTablet struct {
	vreplicationpb.VReplicationClient
	ts  *topo.Server
	lag int

	mu       sync.Mutex
	after    int  // answers since the record said STOPPED
	reported bool // it answered "stopped"
}

func (f *stoppingTablet) WorkflowStatus(ctx context.Context, req *vreplicationpb.WorkflowStatusRequest, _ ...grpc.CallOption) (*vreplicationpb.WorkflowStatusResponse, error) {
	wf, _, err := f.ts.GetWorkflow(ctx, "customer", req.Workflow)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	phase := "running"
	if wf.State == vreplicationpb.WorkflowState_STOPPED {
		f.after++
		if f.lag >= 0 && f.after > f.lag {
			phase = "stopped"
			f.reported = true
		}
	}
	return &vreplicationpb.WorkflowStatusResponse{Streams: []*vreplicationpb.StreamStatus{
		{Workflow: req.Workflow, SourceShard: "0", Phase: phase},
		// Another workflow's stream runs on: it is not waited for.
		{Workflow: "other", SourceShard: "0", Phase: "running"},
	}}, nil
}

// stopFeed stops the feeding workflow and returns only once every new
// primary reports its streams stopped; when they do not stop in time it
// fails, and restartFeed writes the record back as it was.
func TestStopFeed(t *testing.T) {
	ctx := t.Context()
	ts := topo.NewServer(memstore.New())
	defer ts.Close()
	if err := ts.CreateKeyspaceWithShards(ctx, "customer", &topodatapb.Keyspace{}, []string{"-80", "80-"}); err != nil {
		t.Fatal(err)
	}
	feed := &vreplicationpb.Workflow{Name: "mt", Type: vreplicationpb.WorkflowType_MOVE_TABLES, SourceKeyspace: "commerce", TargetKeyspace: "customer",
		SourceShards: []string{"0"}, TargetShards: []string{"-80", "80-"}, State: vreplicationpb.WorkflowState_RUNNING, Message: "copied"}
	if err := ts.CreateWorkflow(ctx, "customer", feed); err != nil {
		t.Fatal(err)
	}
	_, v, err := ts.GetWorkflow(ctx, "customer", "mt")
	if err != nil {
		t.Fatal(err)
	}
	m := &Manager{ts: ts, Log: slog.New(slog.DiscardHandler)}
	to := []string{"-80", "80-"}
	tablets := map[string]*stoppingTablet{"-80": {ts: ts, lag: 3}, "80-": {ts: ts, lag: 5}}
	clients := primaries{}
	for sh, f := range tablets {
		clients[sh] = &primaryClient{c: &tmclient.Client{VR: f}, t: &topodatapb.Tablet{}}
	}

	nv, err := m.stopFeed(ctx, clients, feed, v, to, 10*time.Second)
	if err != nil || nv == 0 {
		t.Fatalf("stopFeed = %d, %v", nv, err)
	}
	for sh, f := range tablets {
		if !f.reported {
			t.Errorf("stopFeed returned before the primary of %s reported the streams stopped", sh)
		}
	}
	rec, recV, err := ts.GetWorkflow(ctx, "customer", "mt")
	if err != nil || rec.State != vreplicationpb.WorkflowState_STOPPED || recV != nv {
		t.Fatalf("record after stopFeed: %v at %d (%v); want STOPPED at %d", rec.GetState(), recV, err, nv)
	}
	if err := m.restartFeed(ctx, feed, nv); err != nil {
		t.Fatal(err)
	}
	if rec, _, _ = ts.GetWorkflow(ctx, "customer", "mt"); rec.State != vreplicationpb.WorkflowState_RUNNING || rec.Message != "copied" {
		t.Fatalf("record after restartFeed: %v %q; want it as before", rec.State, rec.Message)
	}

	// A stream that does not stop: the switch gives up.
	_, v, _ = ts.GetWorkflow(ctx, "customer", "mt")
	tablets["80-"].lag, tablets["80-"].after = -1, 0
	nv, err = m.stopFeed(ctx, clients, feed, v, to, 200*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "did not stop") || nv == 0 {
		t.Fatalf("stopFeed with a stream that runs on = %d, %v; want a failure after the record was written", nv, err)
	}
	if err := m.restartFeed(ctx, feed, nv); err != nil {
		t.Fatal(err)
	}
	if rec, _, _ = ts.GetWorkflow(ctx, "customer", "mt"); rec.State != vreplicationpb.WorkflowState_RUNNING {
		t.Fatalf("record after restartFeed: %v", rec.State)
	}

	// A record that moved since the switch read it: nothing is written.
	if nv, err = m.stopFeed(ctx, clients, feed, v, to, time.Second); err == nil || nv != 0 {
		t.Fatalf("stopFeed of a record that moved = %d, %v; want a refusal", nv, err)
	}
}
