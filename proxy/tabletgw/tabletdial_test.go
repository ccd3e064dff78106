package tabletgw

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/mosaicdb/mosaic/mtls"
	"github.com/mosaicdb/mosaic/mtls/mtlstest"
	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/sysconn"
	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
	"github.com/mosaicdb/mosaic/tablet/tablettest"
	"github.com/mosaicdb/mosaic/topo"
	"github.com/mosaicdb/mosaic/topo/etcdstore/etcdtest"
)

// waitHealth polls hc until a tablet's health satisfies ok.
func waitHealth(t *testing.T, hc *HealthCheck, alias string, ok func(*TabletHealth) bool) *TabletHealth {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last *TabletHealth
	for time.Now().Before(deadline) {
		for _, h := range hc.All() {
			if h.Alias == alias {
				last = h
				if ok(h) {
					return h
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("tablet %s: health never as expected; last %+v", alias, last)
	return nil
}

// runHealthCheck runs a gate's health check of the tablets in ts, as a
// gate on the host named hostID with the gate certificate of ca, until
// the test ends.
func runHealthCheck(t *testing.T, ts *topo.Server, hostID string, ca *mtlstest.CA) *HealthCheck {
	hc := NewHealthCheck(slog.New(slog.DiscardHandler), ts, 5*time.Second)
	hc.hostID = hostID
	hc.creds = ca.TabletCreds(t, mtls.RoleGate)
	hc.muxStreams = 2
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); hc.Run(ctx) }()
	t.Cleanup(func() { stop(); <-done })
	return hc
}

// otherTablet serves a health stream naming another tablet, as a socket
// path that reaches the wrong tablet would.
type otherTablet struct {
	querypb.UnimplementedQueryServer
	calls atomic.Int32
}

func (o *otherTablet) StreamHealth(_ *querypb.StreamHealthRequest, st grpc.ServerStreamingServer[querypb.StreamHealthResponse]) error {
	o.calls.Add(1)
	if err := st.Send(&querypb.StreamHealthResponse{
		Serving:     true,
		Target:      &querypb.Target{Keyspace: "commerce", Shard: "0", TabletType: topodatapb.TabletType_PRIMARY},
		TabletAlias: &topodatapb.TabletAlias{Cell: "zone9", Uid: 999},
	}); err != nil {
		return err
	}
	<-st.Context().Done()
	return nil
}

func TestTabletSocket(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a tablet")
	}
	host := sysconn.HostID()
	if host == "" {
		t.Skip("no boot_id on this system")
	}
	ts := topo.NewServer(etcdtest.NewStore(t))
	sh := tablettest.StartShard(t, ts, "commerce", "0", 0)
	tb := sh.Primary()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	log := slog.New(slog.DiscardHandler)

	rec, err := ts.GetTablet(ctx, tb.Alias)
	if err != nil {
		t.Fatal(err)
	}
	if rec.GetGrpcSocket() != filepath.Join(tb.Dir, "grpc.sock") || rec.GetHostId() != host {
		t.Fatalf("tablet record publishes socket %q host %q; want %q and %q", rec.GetGrpcSocket(), rec.GetHostId(), filepath.Join(tb.Dir, "grpc.sock"), host)
	}

	t.Run("SameHost", func(t *testing.T) {
		hc := runHealthCheck(t, ts, host, tb.Certs)
		h := waitHealth(t, hc, tb.AliasString, func(h *TabletHealth) bool { return h.Serving })
		if h.Transport != "unix" {
			t.Fatalf("gate reaches a tablet on its host by %q, want unix", h.Transport)
		}
		resp, err := h.Client.Execute(ctx, &querypb.ExecuteRequest{Target: sh.Target(topodatapb.TabletType_PRIMARY), Sql: "select 40+2"})
		if err != nil {
			t.Fatal(err)
		}
		rows, err := mysqlconn.NamedRows(resp.GetResult())
		if err != nil || len(rows) != 1 || len(rows[0]) != 1 {
			t.Fatalf("select over the socket gave %v (%v)", rows, err)
		}
		for _, v := range rows[0] {
			if string(v) != "42" {
				t.Fatalf("select over the socket gave %q", v)
			}
		}
	})

	t.Run("OtherHost", func(t *testing.T) {
		hc := runHealthCheck(t, ts, "another-host", tb.Certs)
		h := waitHealth(t, hc, tb.AliasString, func(h *TabletHealth) bool { return h.Serving })
		if h.Transport != "tcp" {
			t.Fatalf("gate reaches a tablet on another host by %q, want tcp", h.Transport)
		}
	})

	// A socket path that, in the gate's view, belongs to another tablet
	// (containers sharing a kernel but not files): the gate notices the
	// alias in the health stream and goes over TCP.
	t.Run("SocketOfAnotherTablet", func(t *testing.T) {
		sock := filepath.Join(t.TempDir(), "other.sock")
		l, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		// Another tablet of the cluster: its certificate is as good as the
		// right tablet's, only its alias tells them apart.
		gs := grpc.NewServer(grpc.Creds(tb.Certs.Source(t, mtls.RoleTablet).ServerCredentials(nil)))
		other := &otherTablet{}
		querypb.RegisterQueryServer(gs, other)
		go gs.Serve(l)
		defer gs.Stop()

		hc := NewHealthCheck(log, ts, 5*time.Second)
		hc.hostID = host
		hc.creds = tb.Certs.TabletCreds(t, mtls.RoleGate)
		fake := proto.Clone(rec).(*topodatapb.Tablet)
		fake.GrpcSocket = sock
		hc.upsert(ctx, fake)
		defer hc.removeAll()
		h := waitHealth(t, hc, tb.AliasString, func(h *TabletHealth) bool { return h.Serving })
		if h.Transport != "tcp" {
			t.Fatalf("transport %q after the socket named another tablet, want tcp", h.Transport)
		}
		if other.calls.Load() == 0 {
			t.Fatal("the gate never tried the socket")
		}
		if h.Target.GetKeyspace() != "commerce" || h.Target.GetTabletType() != topodatapb.TabletType_PRIMARY {
			t.Fatalf("health %+v", h)
		}
	})
}
