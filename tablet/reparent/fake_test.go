package reparent

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/testports"
	"github.com/mosaicdb/mosaic/topo"
	"github.com/mosaicdb/mosaic/topo/memstore"
)

// The reparent tests run over the in-memory topo against fake tablets: a
// gRPC server per tablet with the TabletManager calls a reparent makes and
// a health stream, which records each call as a line. The fakes follow
// the rules the real agent keeps that reparents rely on: a primary whose
// record stops naming it gives its lease back (the real one turns
// read-only, or kills a mysqld that does not answer, first), and a
// tablet promotes itself only when the record names it with the term.

// recorder collects the calls of every fake tablet of a test.
type recorder struct {
	mu    sync.Mutex
	lines []string
	// skip, when set, drops the lines a test cannot predict.
	skip func(string) bool
}

func (r *recorder) add(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := fmt.Sprintf(format, args...)
	if r.skip == nil || !r.skip(l) {
		r.lines = append(r.lines, l)
	}
}

// setSkip sets skip.
func (r *recorder) setSkip(skip func(string) bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.skip = skip
}

// sorted returns the calls so far in a stable order: calls to several
// tablets at once arrive in any order.
func (r *recorder) sorted() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	lines := append([]string(nil), r.lines...)
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// fakeTablet is one tablet of the shard.
type fakeTablet struct {
	tabletmanagerpb.UnimplementedTabletManagerServer
	querypb.UnimplementedQueryServer

	alias *topodatapb.TabletAlias
	name  string
	ts    *topo.Server
	rec   *recorder

	mu sync.Mutex
	// pos is what the tablet holds; relay what it received beyond.
	pos, relay string
	primary    bool
	lease      topo.Lease
	// unresponsive makes its health say mysqld does not answer, and its
	// replication calls fail as a tablet whose mysqld is held down does.
	unresponsive bool
	// onStop runs in StopReplication, onFenced when the tablet gives its
	// lease back (a test's hooks).
	onStop, onFenced func()
}

// shardFixture is a shard ks/0 in a memory topo with fake tablets.
type shardFixture struct {
	ts      *topo.Server
	rec     *recorder
	tablets map[string]*fakeTablet
}

// newShard makes shard ks/0 with the tablets named by uid; the first is
// the primary with term 5 and holds the lease.
func newShard(t *testing.T, positions map[uint32]string, uids ...uint32) *shardFixture {
	t.Helper()
	ctx := t.Context()
	ts := topo.NewServer(memstore.New())
	if err := ts.CreateKeyspace(ctx, "ks", &topodatapb.Keyspace{}); err != nil {
		t.Fatal(err)
	}
	if err := ts.CreateShard(ctx, "ks", "0"); err != nil {
		t.Fatal(err)
	}
	f := &shardFixture{ts: ts, rec: &recorder{}, tablets: map[string]*fakeTablet{}}
	for i, uid := range uids {
		ft := &fakeTablet{alias: &topodatapb.TabletAlias{Cell: "zone1", Uid: uid}, ts: ts, rec: f.rec, pos: positions[uid], primary: i == 0}
		ft.name = topo.AliasString(ft.alias)
		f.tablets[ft.name] = ft
		port := ft.serve(t)
		tt := topodatapb.TabletType_REPLICA
		if ft.primary {
			tt = topodatapb.TabletType_PRIMARY
		}
		if err := ts.SaveTablet(ctx, &topodatapb.Tablet{Alias: ft.alias, Hostname: "127.0.0.1", GrpcPort: int32(port), Keyspace: "ks", Shard: "0", Type: tt, DbFlavor: "mariadb"}); err != nil {
			t.Fatal(err)
		}
	}
	primary := f.tablets[fmt.Sprintf("zone1-%d", uids[0])]
	if _, err := ts.UpdateShardFields(ctx, "ks", "0", func(s *topodatapb.Shard) error {
		s.PrimaryAlias, s.PrimaryTermStartUnixNano = primary.alias, 5
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	l, err := ts.AcquirePrimaryLease(ctx, "ks", "0", &topodatapb.PrimaryLease{Alias: primary.alias, PrimaryTermStartUnixNano: 5}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	primary.lease = l
	primary.watchRecord(t)
	return f
}

func (f *shardFixture) tablet(uid uint32) *fakeTablet {
	return f.tablets[fmt.Sprintf("zone1-%d", uid)]
}

// record returns the shard record as "primary term".
func (f *shardFixture) record(t *testing.T) (string, int64) {
	t.Helper()
	sh, _, err := f.ts.GetShard(t.Context(), "ks", "0")
	if err != nil {
		t.Fatal(err)
	}
	return topo.AliasString(sh.PrimaryAlias), sh.PrimaryTermStartUnixNano
}

// serve starts the tablet's gRPC server on a test port until the test
// ends and returns the port.
func (ft *fakeTablet) serve(t *testing.T) int {
	t.Helper()
	l, err := testports.Listen()
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	tabletmanagerpb.RegisterTabletManagerServer(gs, ft)
	querypb.RegisterQueryServer(gs, ft)
	done := make(chan struct{})
	go func() { defer close(done); _ = gs.Serve(l) }()
	t.Cleanup(func() { gs.Stop(); <-done })
	return l.Addr().(*net.TCPAddr).Port
}

// watchRecord makes the primary give its lease back once the shard record
// stops naming it, as a fenced tablet does.
func (ft *fakeTablet) watchRecord(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	_, _, events, err := ft.ts.WatchShard(ctx, "ks", "0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ev := range events {
			if ev.Err != nil || ev.Record == nil || proto.Equal(ev.Record.PrimaryAlias, ft.alias) {
				continue
			}
			ft.mu.Lock()
			l := ft.lease
			ft.lease, ft.primary = nil, false
			ft.mu.Unlock()
			if l != nil {
				if ft.onFenced != nil {
					ft.onFenced()
				}
				_ = l.Release(context.Background())
				ft.rec.add("%s fenced: gave the lease back", ft.name)
			}
		}
	}()
}

func (ft *fakeTablet) StreamHealth(_ *querypb.StreamHealthRequest, stream grpc.ServerStreamingServer[querypb.StreamHealthResponse]) error {
	ft.mu.Lock()
	h := &querypb.StreamHealthResponse{TabletAlias: ft.alias, Serving: !ft.unresponsive, RealtimeStats: &querypb.RealtimeStats{}}
	if ft.unresponsive {
		h.RealtimeStats.MysqldUnresponsive = true
		h.RealtimeStats.HealthError = "mysqld does not answer: no answer to the health query within 2s"
	}
	ft.mu.Unlock()
	ft.rec.add("%s StreamHealth", ft.name)
	if err := stream.Send(h); err != nil {
		return err
	}
	<-stream.Context().Done()
	return nil
}

func (ft *fakeTablet) StopReplication(ctx context.Context, req *tabletmanagerpb.StopReplicationRequest) (*tabletmanagerpb.StopReplicationResponse, error) {
	ft.mu.Lock()
	unresponsive, onStop, pos, relay := ft.unresponsive, ft.onStop, ft.pos, ft.relay
	ft.mu.Unlock()
	ft.rec.add("%s StopReplication io_only=%v", ft.name, req.IoThreadOnly)
	if onStop != nil {
		onStop()
	}
	if unresponsive {
		return nil, status.Error(codes.Unavailable, "mysqld is held")
	}
	st := &tabletmanagerpb.ReplicationStatus{Position: pos}
	if relay != "" {
		st.RelayPosition, st.SourceHost = relay, "127.0.0.1"
	}
	return &tabletmanagerpb.StopReplicationResponse{Status: st}, nil
}

func (ft *fakeTablet) WaitForPosition(_ context.Context, req *tabletmanagerpb.WaitForPositionRequest) (*tabletmanagerpb.WaitForPositionResponse, error) {
	ft.rec.add("%s WaitForPosition %s", ft.name, req.Position)
	ft.mu.Lock()
	ft.pos = req.Position
	ft.mu.Unlock()
	return &tabletmanagerpb.WaitForPositionResponse{}, nil
}

func (ft *fakeTablet) PromoteReplica(ctx context.Context, req *tabletmanagerpb.PromoteReplicaRequest) (*tabletmanagerpb.PromoteReplicaResponse, error) {
	ft.rec.add("%s PromoteReplica", ft.name)
	sh, _, err := ft.ts.GetShard(ctx, "ks", "0")
	if err != nil {
		return nil, err
	}
	if !proto.Equal(sh.PrimaryAlias, ft.alias) || sh.PrimaryTermStartUnixNano != req.PrimaryTermStartUnixNano {
		return nil, status.Error(codes.FailedPrecondition, "the shard record does not name this tablet with that term")
	}
	ft.mu.Lock()
	defer ft.mu.Unlock()
	ft.primary = true
	return &tabletmanagerpb.PromoteReplicaResponse{Position: ft.pos}, nil
}

func (ft *fakeTablet) SetReplicationSource(_ context.Context, req *tabletmanagerpb.SetReplicationSourceRequest) (*tabletmanagerpb.SetReplicationSourceResponse, error) {
	ft.rec.add("%s SetReplicationSource %s start=%v", ft.name, topo.AliasString(req.Parent), req.StartReplication)
	return &tabletmanagerpb.SetReplicationSourceResponse{}, nil
}

func (ft *fakeTablet) PrimaryPosition(context.Context, *tabletmanagerpb.PrimaryPositionRequest) (*tabletmanagerpb.PrimaryPositionResponse, error) {
	ft.rec.add("%s PrimaryPosition", ft.name)
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return &tabletmanagerpb.PrimaryPositionResponse{Position: ft.pos}, nil
}

func (ft *fakeTablet) ReplicationStatus(context.Context, *tabletmanagerpb.ReplicationStatusRequest) (*tabletmanagerpb.ReplicationStatusResponse, error) {
	ft.rec.add("%s ReplicationStatus", ft.name)
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return &tabletmanagerpb.ReplicationStatusResponse{Status: &tabletmanagerpb.ReplicationStatus{Position: ft.pos, IoRunning: true, SqlRunning: true}}, nil
}

func (ft *fakeTablet) DemotePrimary(context.Context, *tabletmanagerpb.DemotePrimaryRequest) (*tabletmanagerpb.DemotePrimaryResponse, error) {
	ft.rec.add("%s DemotePrimary", ft.name)
	ft.mu.Lock()
	l := ft.lease
	ft.lease, ft.primary = nil, false
	pos := ft.pos
	ft.mu.Unlock()
	if l != nil {
		_ = l.Release(context.Background())
	}
	return &tabletmanagerpb.DemotePrimaryResponse{Position: pos}, nil
}
