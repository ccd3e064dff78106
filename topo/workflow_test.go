package topo_test

import (
	"errors"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proto/vreplicationpb"
	"github.com/mosaicdb/mosaic/topo"
	"github.com/mosaicdb/mosaic/topo/memstore"
)

func TestWorkflowRecords(t *testing.T) {
	ctx := t.Context()
	ts := topo.NewServer(memstore.New())
	defer ts.Close()
	wf := &vreplicationpb.Workflow{Name: "split", Type: vreplicationpb.WorkflowType_RESHARD, SourceKeyspace: "customer", TargetKeyspace: "customer",
		SourceShards: []string{"-80", "80-"}, TargetShards: []string{"-40", "40-80", "80-c0", "c0-"}, State: vreplicationpb.WorkflowState_RUNNING}
	if err := ts.CreateWorkflow(ctx, "customer", wf); err == nil {
		t.Fatal("a workflow in a missing keyspace was created")
	}
	if err := ts.CreateKeyspace(ctx, "customer", &topodatapb.Keyspace{Sharded: true}); err != nil {
		t.Fatal(err)
	}
	if err := ts.CreateShard(ctx, "customer", "-80"); err != nil {
		t.Fatal(err)
	}
	initial, events, err := ts.WatchWorkflows(ctx, "customer")
	if err != nil {
		t.Fatal(err)
	}
	if len(initial) != 0 {
		t.Fatalf("initial workflows: %v", initial)
	}
	if err := ts.CreateWorkflow(ctx, "customer", wf); err != nil {
		t.Fatal(err)
	}
	if err := ts.CreateWorkflow(ctx, "customer", wf); !errors.Is(err, topo.ErrNodeExists) {
		t.Fatalf("second create: %v, want ErrNodeExists", err)
	}
	next := func() topo.WorkflowEvent {
		t.Helper()
		select {
		case ev := <-events:
			return ev
		case <-time.After(10 * time.Second):
			t.Fatal("no workflow event")
		}
		return topo.WorkflowEvent{}
	}
	if ev := next(); ev.Name != "split" || ev.Workflow.GetState() != vreplicationpb.WorkflowState_RUNNING {
		t.Fatalf("create event: %+v", ev)
	}
	if _, err := ts.UpdateWorkflowFields(ctx, "customer", "split", func(w *vreplicationpb.Workflow) error {
		w.State = vreplicationpb.WorkflowState_STOPPED
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if ev := next(); ev.Workflow.GetState() != vreplicationpb.WorkflowState_STOPPED {
		t.Fatalf("update event: %+v", ev)
	}
	got, _, err := ts.GetWorkflow(ctx, "customer", "split")
	if err != nil || got.State != vreplicationpb.WorkflowState_STOPPED || len(got.TargetShards) != 4 {
		t.Fatalf("get: %v %v", got, err)
	}
	// Shard records and workflow records share the keyspace's prefix:
	// neither list shows the other.
	shards, err := ts.ListShards(ctx, "customer")
	if err != nil || len(shards) != 1 {
		t.Fatalf("shards: %v %v", shards, err)
	}
	list, err := ts.ListWorkflows(ctx, "customer")
	if err != nil || len(list) != 1 || list[0].Name != "split" {
		t.Fatalf("list: %v %v", list, err)
	}
	if err := ts.DeleteWorkflow(ctx, "customer", "split"); err != nil {
		t.Fatal(err)
	}
	if ev := next(); ev.Name != "split" || ev.Workflow != nil {
		t.Fatalf("delete event: %+v", ev)
	}
	if _, _, err := ts.GetWorkflow(ctx, "customer", "split"); !errors.Is(err, topo.ErrNoNode) {
		t.Fatalf("get after delete: %v", err)
	}
}
