package tablet_test

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/mtls/mtlstest"
	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/tablet/tablettest"
	"github.com/mosaicdb/mosaic/tablet/tmclient"
	"github.com/mosaicdb/mosaic/topo"
	"github.com/mosaicdb/mosaic/topo/memstore"
)

// TestStartupRoles checks what a tablet becomes at start from the shard
// record: a replica without source in a new shard, a replica of the
// primary once there is one, and the primary again after a restart.
func TestStartupRoles(t *testing.T) {
	ts := topo.NewServer(memstore.New())
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	// One CA for both tablets: the late replica clones the primary.
	opts := tablettest.Options{Certs: mtlstest.New(t)}
	a := tablettest.StartTablet(t, ts, "customer", "-80", opts)
	if _, err := ts.GetKeyspace(ctx, "customer"); err != nil {
		t.Fatalf("keyspace record: %v", err)
	}
	rec, err := ts.GetTablet(ctx, a.Alias)
	if err != nil || rec.Type != replicaType || rec.Shard != "-80" || len(rec.KeyRange.End) != 1 || rec.KeyRange.End[0] != 0x80 {
		t.Fatalf("new tablet record %v %v", rec, err)
	}
	h, err := a.WaitHealth(ctx, func(h *querypb.StreamHealthResponse) bool { return h.Serving })
	if err != nil || !strings.Contains(h.RealtimeStats.HealthError, "no replication source") {
		t.Errorf("sourceless replica health %v %v", h, err)
	}

	if err := tmclient.InitShardPrimary(ctx, ts, a.Creds, "customer", "-80", a.Alias, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := a.WaitHealth(ctx, func(h *querypb.StreamHealthResponse) bool {
		return h.Serving && h.Target.TabletType == primaryType && h.PrimaryTermStartUnixNano != 0
	}); err != nil {
		t.Fatal(err)
	}
	ac := a.Dial(t)
	exec := func(c *tmclient.Client, tt topodatapb.TabletType, sql string) (*querypb.QueryResult, error) {
		resp, err := c.Query.Execute(ctx, &querypb.ExecuteRequest{Target: a.Target(tt), Sql: sql})
		if err != nil {
			return nil, err
		}
		return resp.Result, nil
	}
	if _, err := exec(ac, primaryType, "CREATE TABLE t (id INT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	if _, err := exec(ac, primaryType, "INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}

	b := tablettest.StartTablet(t, ts, "customer", "-80", opts)
	bc := b.Dial(t)
	if _, err := b.WaitHealth(ctx, func(h *querypb.StreamHealthResponse) bool {
		return h.Serving && h.RealtimeStats.ReplicationRunning
	}); err != nil {
		t.Fatalf("late replica does not replicate: %v", err)
	}
	countOn := func(c *tmclient.Client, want string) func() error {
		return func() error {
			res, err := exec(c, replicaType, "SELECT COUNT(*) FROM t")
			if err != nil {
				return err
			}
			if n := flat(values(t, res)); n != want {
				return fmt.Errorf("%s rows, want %s", n, want)
			}
			return nil
		}
	}
	eventually(t, 20*time.Second, "row on late replica", countOn(bc, "1"))

	// An open health stream must not hold up the shutdown.
	hs, err := ac.Query.StreamHealth(ctx, &querypb.StreamHealthRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hs.Recv(); err != nil {
		t.Fatal(err)
	}
	stopStart := time.Now()
	a.Stop()
	// A graceful stop held up by the stream would take its 5 s limit.
	if d := time.Since(stopStart); d > 4*time.Second {
		t.Errorf("stop with an open health stream took %v", d)
	}
	a.Restart(t)
	// The old stream ends instead of hanging.
	for {
		if _, err := hs.Recv(); err != nil {
			break
		}
	}
	if _, err := a.WaitHealth(ctx, func(h *querypb.StreamHealthResponse) bool {
		return h.Serving && h.Target.TabletType == primaryType
	}); err != nil {
		t.Fatalf("restarted primary: %v", err)
	}
	st, err := a.Dial(t).TM.Status(ctx, &tabletmanagerpb.StatusRequest{})
	if err != nil || st.ReadOnly {
		t.Fatalf("restarted primary is read-only: %v %v", st, err)
	}
	eventually(t, 20*time.Second, "write on restarted primary", func() error {
		_, err := exec(a.Dial(t), primaryType, "INSERT INTO t VALUES (2)")
		return err
	})
	eventually(t, 30*time.Second, "replica follows restarted primary", countOn(bc, "2"))

	// A replica whose mysqld dies resumes replication when it is back.
	m := b.Agent.Mysqld()
	starts := m.Starts()
	if err := syscall.Kill(m.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "replica mysqld restarted", func() error {
		if m.Starts() <= starts {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	if _, err := exec(a.Dial(t), primaryType, "INSERT INTO t VALUES (3)"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "restarted replica catches up", countOn(bc, "3"))
	if _, err := b.WaitHealth(ctx, func(h *querypb.StreamHealthResponse) bool {
		return h.Serving && h.RealtimeStats.ReplicationRunning
	}); err != nil {
		t.Fatal(err)
	}

	if err := tmclient.InitShardPrimary(ctx, ts, b.Creds, "customer", "-80", b.Alias, nil); err == nil || !strings.Contains(err.Error(), "already has primary") {
		t.Errorf("second init-primary: %v", err)
	}
}
