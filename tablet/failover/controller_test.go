package failover

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/mosaicdb/mosaic/testports"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/tablet/tmclient"
	"github.com/mosaicdb/mosaic/topo"
	"github.com/mosaicdb/mosaic/topo/memstore"
)

// closedPort returns a port nothing listens on.
func closedPort(t *testing.T) int32 {
	t.Helper()
	ports, err := testports.Free(1)
	if err != nil {
		t.Fatal(err)
	}
	return int32(ports[0])
}

// shardWithDeadPrimary makes a shard whose record names a primary holding
// the lease, whose gRPC and mysqld ports refuse connections.
func shardWithDeadPrimary(t *testing.T) (*topo.Server, *topodatapb.TabletAlias) {
	t.Helper()
	ctx := t.Context()
	ts := topo.NewServer(memstore.New())
	if err := ts.CreateKeyspace(ctx, "ks", &topodatapb.Keyspace{}); err != nil {
		t.Fatal(err)
	}
	if err := ts.CreateShard(ctx, "ks", "0"); err != nil {
		t.Fatal(err)
	}
	alias := &topodatapb.TabletAlias{Cell: "zone1", Uid: 1}
	if err := ts.SaveTablet(ctx, &topodatapb.Tablet{Alias: alias, Hostname: "127.0.0.1", GrpcPort: closedPort(t), MysqlPort: closedPort(t),
		Keyspace: "ks", Shard: "0", Type: topodatapb.TabletType_PRIMARY}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.UpdateShardFields(ctx, "ks", "0", func(s *topodatapb.Shard) error {
		s.PrimaryAlias, s.PrimaryTermStartUnixNano = alias, 5
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.AcquirePrimaryLease(ctx, "ks", "0", &topodatapb.PrimaryLease{Alias: alias, PrimaryTermStartUnixNano: 5}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	return ts, alias
}

func runController(t *testing.T, ts *topo.Server, cfg Config) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	c, err := New(cfg, ts, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); c.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return reg
}

func counter(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.Metric {
			if matches(m, labels) {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

func matches(m *dto.Metric, labels map[string]string) bool {
	for k, v := range labels {
		found := false
		for _, l := range m.Label {
			if l.GetName() == k && l.GetValue() == v {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// A primary whose processes are gone loses its lease at once and the
// shard is failed over: here no replica exists, so the reparent fails
// after fencing the shard record, and is tried again.
func TestDeadPrimaryIsFailedOver(t *testing.T) {
	ts, _ := shardWithDeadPrimary(t)
	cfg := DefaultConfig()
	cfg.Reparent.Creds = tmclient.Insecure() // no tablet answers here
	cfg.StartupGrace = 0
	cfg.RetryInterval = 100 * time.Millisecond
	cfg.Reparent.TabletTimeout = time.Second
	reg := runController(t, ts, cfg)
	deadline := time.Now().Add(20 * time.Second)
	for counter(t, reg, "mosaic_failover_reparents_total", map[string]string{"result": "error"}) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("no failover attempted")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := counter(t, reg, "mosaic_failover_dead_primaries_total", nil); n < 1 {
		t.Errorf("dead primaries = %v", n)
	}
	if n := counter(t, reg, "mosaic_failover_shards", map[string]string{"state": "down"}); n != 1 {
		t.Errorf("shards down = %v, want 1", n)
	}
	sh, _, err := ts.GetShard(t.Context(), "ks", "0")
	if err != nil || sh.PrimaryAlias != nil || sh.PrimaryTermStartUnixNano != 5 {
		t.Fatalf("shard record after the failed failover = %v, %v; want no primary, term kept", sh, err)
	}
}

// Within its startup grace the controller leaves a shard it never saw
// healthy alone, even one with no lease.
func TestStartupGrace(t *testing.T) {
	ts, alias := shardWithDeadPrimary(t)
	if err := ts.BreakPrimaryLease(t.Context(), "ks", "0", 0); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Reparent.Creds = tmclient.Insecure() // no tablet answers here
	cfg.StartupGrace = time.Hour
	reg := runController(t, ts, cfg)
	time.Sleep(time.Second)
	if n := counter(t, reg, "mosaic_failover_reparents_total", nil); n != 0 {
		t.Fatalf("%v reparents during the startup grace", n)
	}
	sh, _, _ := ts.GetShard(t.Context(), "ks", "0")
	if topo.AliasString(sh.PrimaryAlias) != topo.AliasString(alias) {
		t.Fatalf("shard record touched during the grace: %v", sh)
	}
}

// healthServer is a tablet's health stream that says what unresponsive
// holds.
type healthServer struct {
	querypb.UnimplementedQueryServer
	alias        *topodatapb.TabletAlias
	unresponsive bool
}

func (h *healthServer) StreamHealth(_ *querypb.StreamHealthRequest, stream grpc.ServerStreamingServer[querypb.StreamHealthResponse]) error {
	msg := &querypb.StreamHealthResponse{TabletAlias: h.alias, Serving: !h.unresponsive,
		RealtimeStats: &querypb.RealtimeStats{MysqldUnresponsive: h.unresponsive}}
	if err := stream.Send(msg); err != nil {
		return err
	}
	<-stream.Context().Done()
	return nil
}

// serveHealth serves a health stream for alias that says whether its
// mysqld answers, until the test ends, and returns its port.
func serveHealth(t *testing.T, alias *topodatapb.TabletAlias, unresponsive bool) int32 {
	t.Helper()
	l, err := testports.Listen()
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	querypb.RegisterQueryServer(gs, &healthServer{alias: alias, unresponsive: unresponsive})
	go gs.Serve(l)
	t.Cleanup(gs.Stop)
	return int32(l.Addr().(*net.TCPAddr).Port)
}

// shardWithLivePrimary makes a shard whose record names a primary that
// holds the lease and whose tablet's health says whether its mysqld
// answers, and a replica whose mysqld answers.
func shardWithLivePrimary(t *testing.T, unresponsive bool) *topo.Server {
	t.Helper()
	ts, alias := shardWithDeadPrimary(t)
	tab, err := ts.GetTablet(t.Context(), alias)
	if err != nil {
		t.Fatal(err)
	}
	tab.GrpcPort = serveHealth(t, alias, unresponsive)
	if err := ts.SaveTablet(t.Context(), tab); err != nil {
		t.Fatal(err)
	}
	replica := &topodatapb.TabletAlias{Cell: "zone1", Uid: 2}
	if err := ts.SaveTablet(t.Context(), &topodatapb.Tablet{Alias: replica, Hostname: "127.0.0.1", GrpcPort: serveHealth(t, replica, false),
		MysqlPort: closedPort(t), Keyspace: "ks", Shard: "0", Type: topodatapb.TabletType_REPLICA}); err != nil {
		t.Fatal(err)
	}
	return ts
}

// A primary that holds its lease while its health says its mysqld does
// not answer is failed over after the unresponsive grace: the reparent
// fences the shard record (here the fake tablet keeps its lease, so the
// reparent then fails and is tried again). One whose mysqld answers is
// left alone.
func TestUnresponsivePrimaryIsFailedOver(t *testing.T) {
	for _, unresponsive := range []bool{true, false} {
		t.Run(fmt.Sprintf("unresponsive=%v", unresponsive), func(t *testing.T) {
			ts := shardWithLivePrimary(t, unresponsive)
			cfg := DefaultConfig()
			cfg.Reparent.Creds = tmclient.Insecure() // the fake tablets are plaintext
			cfg.StartupGrace = 0
			cfg.UnresponsiveGrace = 500 * time.Millisecond
			cfg.HealthTimeout = time.Hour
			cfg.RetryInterval = time.Hour
			cfg.Reparent.LeaseWait = 200 * time.Millisecond
			cfg.Reparent.TabletTimeout = 2 * time.Second
			reg := runController(t, ts, cfg)
			if !unresponsive {
				// Well past the grace, and past the lease grace of a
				// primary the detector has just seen.
				time.Sleep(4 * time.Second)
				if n := counter(t, reg, "mosaic_failover_reparents_total", nil); n != 0 {
					t.Fatalf("%v reparents of a primary whose mysqld answers", n)
				}
				if n := counter(t, reg, "mosaic_failover_shards", map[string]string{"state": "healthy"}); n != 1 {
					t.Errorf("healthy shards = %v, want 1", n)
				}
				return
			}
			deadline := time.Now().Add(20 * time.Second)
			for counter(t, reg, "mosaic_failover_reparents_total", map[string]string{"result": "error"}) < 1 {
				if time.Now().After(deadline) {
					t.Fatal("no failover of the unresponsive primary")
				}
				time.Sleep(20 * time.Millisecond)
			}
			sh, _, err := ts.GetShard(t.Context(), "ks", "0")
			if err != nil || sh.PrimaryAlias != nil {
				t.Fatalf("shard record = %v, %v; want it fenced", sh, err)
			}
		})
	}
}
