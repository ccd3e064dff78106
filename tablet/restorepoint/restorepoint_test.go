package restorepoint

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/topo"
	"github.com/mosaicdb/mosaic/topo/memstore"
)

// fakePrimary answers HoldCommits as a primary's tablet would, recording
// the calls in order across every fake.
type fakePrimary struct {
	tabletmanagerpb.TabletManagerClient // nil: other calls panic
	shard                               string
	log                                 *callLog
	busy                                int  // refuse this many takes as held by another
	expire                              bool // say the hold lifted by itself
	onTake                              func()
}

type callLog struct {
	mu    sync.Mutex
	calls []string
}

func (l *callLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, s)
}

func (f *fakePrimary) HoldCommits(_ context.Context, req *tabletmanagerpb.HoldCommitsRequest, _ ...grpc.CallOption) (*tabletmanagerpb.HoldCommitsResponse, error) {
	if req.Release {
		f.log.add("lift " + f.shard)
		if f.expire {
			return &tabletmanagerpb.HoldCommitsResponse{}, nil
		}
		return &tabletmanagerpb.HoldCommitsResponse{Position: "0-1-" + f.shard, Held: true}, nil
	}
	if f.busy > 0 {
		f.busy--
		f.log.add("busy " + f.shard)
		return nil, status.Error(codes.Aborted, "held by another")
	}
	f.log.add("hold " + f.shard)
	if f.onTake != nil {
		f.onTake()
	}
	return &tabletmanagerpb.HoldCommitsResponse{}, nil
}

func setup(t *testing.T) (*topo.Server, map[string]*fakePrimary, *callLog) {
	ctx := t.Context()
	ts := topo.NewServer(memstore.New())
	if err := ts.CreateKeyspaceWithShards(ctx, "bank", &topodatapb.Keyspace{Sharded: true}, []string{"-80", "80-"}); err != nil {
		t.Fatal(err)
	}
	log := &callLog{}
	fakes := map[string]*fakePrimary{}
	for i, sh := range []string{"-80", "80-"} {
		alias := &topodatapb.TabletAlias{Cell: "zone1", Uid: uint32(100 + i)}
		if err := ts.CreateTablet(ctx, &topodatapb.Tablet{Alias: alias, Keyspace: "bank", Shard: sh, Type: topodatapb.TabletType_PRIMARY}); err != nil {
			t.Fatal(err)
		}
		if _, err := ts.UpdateShardFields(ctx, "bank", sh, func(s *topodatapb.Shard) error { s.PrimaryAlias = alias; return nil }); err != nil {
			t.Fatal(err)
		}
		fakes[sh] = &fakePrimary{shard: sh, log: log}
	}
	return ts, fakes, log
}

func dialer(fakes map[string]*fakePrimary) Dialer {
	return func(t *topodatapb.Tablet) (tabletmanagerpb.TabletManagerClient, func(), error) {
		return fakes[t.Shard], func() {}, nil
	}
}

// TestTake pins the order a restore point needs: every primary holds
// before any position is read (a lift reads its position first), a
// refusal because another restore point holds is tried again, a hold that
// lifted by itself or a primary changed meanwhile gives no restore point,
// and a taken one is in topo.
func TestTake(t *testing.T) {
	ctx := t.Context()
	t.Run("all hold before any position", func(t *testing.T) {
		ts, fakes, log := setup(t)
		fakes["80-"].busy = 2
		rp, err := Take(ctx, ts, "bank", dialer(fakes), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if rp.Positions["-80"] != "0-1--80" || rp.Positions["80-"] != "0-1-80-" {
			t.Errorf("positions %v", rp.Positions)
		}
		// The attempt that succeeded is the last four calls: both holds,
		// then both lifts.
		final := log.calls[len(log.calls)-4:]
		for i, c := range final {
			if want := map[bool]string{true: "hold ", false: "lift "}[i < 2]; !strings.HasPrefix(c, want) {
				t.Errorf("a position was read before every primary held: %v", log.calls)
				break
			}
		}
		if n := strings.Count(strings.Join(log.calls, ","), "busy"); n != 2 {
			t.Errorf("busy refusals %d, want 2 tried again: %v", n, log.calls)
		}
		// Every hold taken on a busy attempt was lifted before the retry.
		holds, lifts := 0, 0
		for _, c := range log.calls {
			holds += map[bool]int{true: 1}[strings.HasPrefix(c, "hold ")]
			lifts += map[bool]int{true: 1}[strings.HasPrefix(c, "lift ")]
		}
		if holds != lifts {
			t.Errorf("%d holds, %d lifts: %v", holds, lifts, log.calls)
		}
		got, err := ts.ListRestorePoints(ctx, "bank")
		if err != nil || len(got) != 1 || got[0].Id != rp.Id {
			t.Fatalf("restore points in topo: %v, %v", got, err)
		}
	})
	t.Run("a hold that lifted by itself", func(t *testing.T) {
		ts, fakes, _ := setup(t)
		fakes["-80"].expire = true
		if _, err := Take(ctx, ts, "bank", dialer(fakes), Options{}); err == nil || !strings.Contains(err.Error(), "lifted by itself") {
			t.Fatalf("Take with an expired hold: %v", err)
		}
		if got, _ := ts.ListRestorePoints(ctx, "bank"); len(got) != 0 {
			t.Errorf("a restore point was recorded: %v", got)
		}
	})
	t.Run("a failover meanwhile", func(t *testing.T) {
		ts, fakes, _ := setup(t)
		fakes["80-"].onTake = func() {
			alias := &topodatapb.TabletAlias{Cell: "zone1", Uid: 200}
			if err := ts.CreateTablet(context.Background(), &topodatapb.Tablet{Alias: alias, Keyspace: "bank", Shard: "80-", Type: topodatapb.TabletType_PRIMARY}); err != nil {
				t.Error(err)
			}
			if _, err := ts.UpdateShardFields(context.Background(), "bank", "80-", func(s *topodatapb.Shard) error { s.PrimaryAlias = alias; return nil }); err != nil {
				t.Error(err)
			}
		}
		if _, err := Take(ctx, ts, "bank", dialer(fakes), Options{}); !errors.Is(err, ErrChanged) {
			t.Fatalf("Take across a failover: %v, want ErrChanged", err)
		}
	})
	t.Run("prune", func(t *testing.T) {
		ts, _, _ := setup(t)
		now := time.Now()
		for _, age := range []time.Duration{3 * time.Hour, 2 * time.Hour, time.Minute} {
			at := now.Add(-age)
			if err := ts.CreateRestorePoint(ctx, &topodatapb.RestorePoint{Id: topo.RestorePointID(at), Keyspace: "bank", TimeUnixNano: at.UnixNano()}); err != nil {
				t.Fatal(err)
			}
		}
		n, err := Prune(ctx, ts, "bank", time.Hour, now)
		if err != nil || n != 2 {
			t.Fatalf("pruned %d (%v), want 2", n, err)
		}
		rp, err := ts.LatestRestorePoint(ctx, "bank", now)
		if err != nil || rp.TimeUnixNano != now.Add(-time.Minute).UnixNano() {
			t.Fatalf("latest restore point %v, %v", rp, err)
		}
		if _, err := ts.LatestRestorePoint(ctx, "bank", now.Add(-time.Hour)); !errors.Is(err, topo.ErrNoNode) {
			t.Errorf("a restore point before any: %v", err)
		}
	})
}
