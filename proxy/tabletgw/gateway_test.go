package tabletgw

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// fakeTablet is an in-memory tablet: it records each Execute as a line
// ("Execute zone1-a ks/0 select 1") in its log, and answers with refuse
// when that is set.
type fakeTablet struct {
	querypb.QueryClient // nil: a call of any other method panics
	alias               string
	log                 *callLog
	refuse              error
}

// callLog is the calls of a test's fake tablets, in order.
type callLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *callLog) add(line string) {
	l.mu.Lock()
	l.lines = append(l.lines, line)
	l.mu.Unlock()
}

func (l *callLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func (f *fakeTablet) Execute(_ context.Context, req *querypb.ExecuteRequest, _ ...grpc.CallOption) (*querypb.ExecuteResponse, error) {
	t := req.GetTarget()
	f.log.add(fmt.Sprintf("Execute %s %s/%s %s", f.alias, t.GetKeyspace(), t.GetShard(), req.GetSql()))
	if f.refuse != nil {
		return nil, f.refuse
	}
	return &querypb.ExecuteResponse{Result: &querypb.QueryResult{}}, nil
}

// addFake publishes a serving fake tablet of ks/0 in hc, in cell, and
// returns it.
func addFake(hc *HealthCheck, log *callLog, cell, alias string, tt topodatapb.TabletType, term int64) *fakeTablet {
	ft := &fakeTablet{alias: alias, log: log}
	hc.mu.Lock()
	defer hc.mu.Unlock()
	tablet := &topodatapb.Tablet{Alias: &topodatapb.TabletAlias{Cell: cell}}
	hc.entries[alias] = &tabletEntry{tablet: tablet, health: &TabletHealth{
		Alias: alias, Tablet: tablet, Serving: true, PrimaryTermStart: term, ReplicationOK: true, LastSeen: time.Now(),
		Target: &querypb.Target{Keyspace: "ks", Shard: "0", TabletType: tt},
		Client: ft,
	}}
	hc.rebuildLocked()
	return ft
}

// dropFake takes a fake tablet out of hc, as a tablet that goes away.
func dropFake(hc *HealthCheck, alias string) {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	delete(hc.entries, alias)
	hc.rebuildLocked()
}

// execute sends sql to target through gw, as the session engine does.
func execute(ctx context.Context, gw *Gateway, tt topodatapb.TabletType, sql string) error {
	target := &querypb.Target{Keyspace: "ks", Shard: "0", TabletType: tt}
	return gw.Call(ctx, target, func(th *TabletHealth) error {
		_, err := th.Client.Execute(ctx, &querypb.ExecuteRequest{Target: target, Sql: sql})
		return err
	})
}

// A primary request goes to the primary of the newest term, whatever its
// cell; replica reads stay in the gate's cell while it has one.
func TestPick(t *testing.T) {
	hc := fakeHealth()
	log := &callLog{}
	gw := newGateway(Config{Cell: "zone1"}, hc, nil)
	addFake(hc, log, "zone1", "zone1-old", topodatapb.TabletType_PRIMARY, 1)
	addFake(hc, log, "zone2", "zone2-new", topodatapb.TabletType_PRIMARY, 2)
	addFake(hc, log, "zone1", "zone1-r", topodatapb.TabletType_REPLICA, 0)
	addFake(hc, log, "zone2", "zone2-r", topodatapb.TabletType_REPLICA, 0)
	for range 20 {
		if err := execute(t.Context(), gw, topodatapb.TabletType_REPLICA, "select 1"); err != nil {
			t.Fatal(err)
		}
	}
	if err := execute(t.Context(), gw, topodatapb.TabletType_PRIMARY, "insert 1"); err != nil {
		t.Fatal(err)
	}
	want := strings.Repeat("Execute zone1-r ks/0 select 1\n", 20) + "Execute zone2-new ks/0 insert 1"
	if got := log.String(); got != want {
		t.Fatalf("calls:\n%s\nwant:\n%s", got, want)
	}
	// Without a replica in its cell, the gate reads from another cell's.
	dropFake(hc, "zone1-r")
	if th, err := gw.Pick(t.Context(), "ks", "0", topodatapb.TabletType_REPLICA); err != nil || th.Alias != "zone2-r" {
		t.Fatalf("pick without a local replica: %v, %v", th, err)
	}
}

// A request that finds no serving tablet waits up to TabletWait for one
// to appear, and fails as not serving (retryably) without one.
func TestPickWaits(t *testing.T) {
	hc := fakeHealth()
	gw := newGateway(Config{Cell: "zone1", TabletWait: 5 * time.Second}, hc, nil)
	log := &callLog{}
	go func() {
		time.Sleep(50 * time.Millisecond)
		addFake(hc, log, "zone1", "late", topodatapb.TabletType_REPLICA, 0)
	}()
	th, err := gw.Pick(t.Context(), "ks", "0", topodatapb.TabletType_REPLICA)
	if err != nil || th.Alias != "late" {
		t.Fatalf("pick of a tablet that comes: %v, %v", th, err)
	}

	gw = newGateway(Config{Cell: "zone1", TabletWait: 50 * time.Millisecond}, fakeHealth(), nil)
	start := time.Now()
	_, err = gw.Pick(t.Context(), "ks", "0", topodatapb.TabletType_REPLICA)
	if !sqlerr.IsRetryable(err) || time.Since(start) < 50*time.Millisecond {
		t.Fatalf("pick without a tablet: %v after %v, want not serving after the wait", err, time.Since(start))
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	gw = newGateway(Config{Cell: "zone1", TabletWait: time.Minute}, fakeHealth(), nil)
	if _, err := gw.Pick(ctx, "ks", "0", topodatapb.TabletType_REPLICA); sqlerr.FromError(err).Num != sqlerr.FromError(context.Canceled).Num {
		t.Fatalf("pick with a canceled context: %v", err)
	}
}

// A request the tablet refused before running it (retryable) goes to
// another tablet once the health check says the first no longer serves;
// one that may have run is never sent again.
func TestCallRetries(t *testing.T) {
	hc := fakeHealth()
	log := &callLog{}
	gw := newGateway(Config{Cell: "zone1", TabletWait: 5 * time.Second}, hc, nil)
	a := addFake(hc, log, "zone1", "a", topodatapb.TabletType_REPLICA, 0)
	a.refuse = sqlerr.NotServing("not serving: going away")
	go func() {
		// Its health stream then says so, and another one serves.
		for !strings.Contains(log.String(), "Execute a") {
			time.Sleep(time.Millisecond)
		}
		dropFake(hc, "a")
		addFake(hc, log, "zone1", "b", topodatapb.TabletType_REPLICA, 0)
	}()
	if err := execute(t.Context(), gw, topodatapb.TabletType_REPLICA, "select 1"); err != nil {
		t.Fatal(err)
	}
	if got, want := log.String(), "Execute a ks/0 select 1\nExecute b ks/0 select 1"; got != want {
		t.Fatalf("calls:\n%s\nwant:\n%s", got, want)
	}

	log = &callLog{}
	hc = fakeHealth()
	gw = newGateway(Config{Cell: "zone1", TabletWait: 5 * time.Second}, hc, nil)
	ran := errors.New("duplicate key")
	addFake(hc, log, "zone1", "a", topodatapb.TabletType_PRIMARY, 1).refuse = ran
	if err := execute(t.Context(), gw, topodatapb.TabletType_PRIMARY, "insert 1"); !errors.Is(err, ran) {
		t.Fatalf("error of a request that ran: %v", err)
	}
	if got := log.String(); got != "Execute a ks/0 insert 1" {
		t.Fatalf("a request that ran was sent again:\n%s", got)
	}
}

// Parallel and All run every call on the gateway's fan-out workers; the
// session engine gets them through the Gateway.
func TestGatewayFanout(t *testing.T) {
	hc := fakeHealth()
	log := &callLog{}
	gw := newGateway(Config{Cell: "zone1", FanoutWorkers: 2}, hc, nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); gw.fan.Run(ctx, 2) }()
	defer func() { cancel(); <-done }()
	addFake(hc, log, "zone1", "p", topodatapb.TabletType_PRIMARY, 1)
	sqls := []string{"q0", "q1", "q2", "q3"}
	err := gw.Parallel(t.Context(), len(sqls), func(ctx context.Context, i int) error {
		return execute(ctx, gw, topodatapb.TabletType_PRIMARY, sqls[i])
	})
	if err != nil {
		t.Fatal(err)
	}
	gw.All(t.Context(), len(sqls), func(ctx context.Context, i int) {
		execute(ctx, gw, topodatapb.TabletType_PRIMARY, sqls[i]+"-all")
	})
	lines := strings.Split(log.String(), "\n")
	slices.Sort(lines)
	want := []string{
		"Execute p ks/0 q0", "Execute p ks/0 q0-all", "Execute p ks/0 q1", "Execute p ks/0 q1-all",
		"Execute p ks/0 q2", "Execute p ks/0 q2-all", "Execute p ks/0 q3", "Execute p ks/0 q3-all",
	}
	if !slices.Equal(lines, want) {
		t.Fatalf("calls %v, want %v", lines, want)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	bad := DefaultConfig()
	bad.Cell, bad.BufferSize = "", 0
	err := bad.Validate()
	if err == nil || !strings.Contains(err.Error(), "cell") || !strings.Contains(err.Error(), "buffer size") {
		t.Fatalf("bad config: %v", err)
	}
}
