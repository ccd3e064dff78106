package tablet_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/tablet/tablettest"
	"github.com/mosaicdb/mosaic/tablet/tmclient"
)

// testReservedConnections checks the reserved connections the gate's lock
// sessions use: a lock taken on one stays while its caller heartbeats it
// (past the idle-transaction limit and the reserved timeout), no pooled
// connection sees it, and it is gone once the reservation is released,
// by its caller or by the tablet when the caller goes silent.
// reservedTimeout and txIdle are the tablet's reserved timeout and
// transaction idle limit.
func testReservedConnections(t *testing.T, pc *tmclient.Client, target *querypb.Target, primary *tablettest.Tablet, reservedTimeout, txIdle time.Duration) {
	ctx := t.Context()
	reserve := func(id int64, sql string) (int64, string) {
		t.Helper()
		resp, err := pc.Query.ReserveExecute(ctx, &querypb.ReserveExecuteRequest{Target: target, ReservedId: id, Sql: sql})
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		if resp.Error != nil {
			return resp.ReservedId, "error: " + resp.Error.Message
		}
		return resp.ReservedId, flat(values(t, resp.Result))
	}
	// dba reads mysqld directly, bypassing every pool.
	dba := func(sql string) string {
		return flat(values(t, primary.ExecuteFetchAsDba(t, sql)))
	}
	pooled := func(sql string) string {
		t.Helper()
		resp, err := pc.Query.Execute(ctx, &querypb.ExecuteRequest{Target: target, Sql: sql})
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return flat(values(t, resp.Result))
	}

	id, got := reserve(0, "SELECT GET_LOCK('rsv_a', 0)")
	if id == 0 || got != "1" {
		t.Fatalf("reserve: id %d, GET_LOCK = %s", id, got)
	}
	if again, got := reserve(id, "SELECT CONNECTION_ID()"); again != id || got == "" {
		t.Fatalf("second statement: id %d, %s", again, got)
	}
	_, thread := reserve(id, "SELECT CONNECTION_ID()")
	if got := pooled("SELECT IS_USED_LOCK('rsv_a')"); got != thread {
		t.Errorf("IS_USED_LOCK from a pooled connection = %s, want the reserved connection's thread %s", got, thread)
	}
	if got := pooled("SELECT GET_LOCK('rsv_a', 0)"); got != "0" {
		t.Errorf("GET_LOCK of the held lock on a pooled connection = %s, want 0", got)
	}
	// Heartbeats keep it past the reserved timeout and the transaction
	// idle limit.
	end := time.Now().Add(max(reservedTimeout, txIdle) + reservedTimeout/2)
	for time.Now().Before(end) {
		hb, err := pc.Query.ReservedHeartbeat(ctx, &querypb.ReservedHeartbeatRequest{Target: target, ReservedIds: []int64{id, 12345}})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(hb.GoneIds) != "[12345]" {
			t.Fatalf("heartbeat gone ids = %v, want [12345]", hb.GoneIds)
		}
		time.Sleep(reservedTimeout / 6)
	}
	if got := dba("SELECT IS_USED_LOCK('rsv_a')"); got != thread {
		t.Fatalf("after heartbeats, IS_USED_LOCK = %s, want %s", got, thread)
	}
	if _, err := pc.Query.Release(ctx, &querypb.ReleaseRequest{Target: target, ReservedId: id}); err != nil {
		t.Fatal(err)
	}
	if got := dba("SELECT IS_FREE_LOCK('rsv_a')"); got != "1" {
		t.Errorf("after Release, IS_FREE_LOCK = %s, want 1", got)
	}
	if _, err := pc.Query.Release(ctx, &querypb.ReleaseRequest{Target: target, ReservedId: id}); err != nil {
		t.Errorf("second Release: %v", err)
	}
	if again, got := reserve(id, "SELECT 1"); again != 0 || got[:6] != "error:" {
		t.Errorf("statement on a released reservation: id %d, %s", again, got)
	}

	// A silent caller loses its reservation, and its lock, after the
	// timeout.
	id, got = reserve(0, "SELECT GET_LOCK('rsv_b', 0)")
	if id == 0 || got != "1" {
		t.Fatalf("reserve: id %d, GET_LOCK = %s", id, got)
	}
	start := time.Now()
	eventually(t, 3*reservedTimeout+10*time.Second, "silent reservation released", func() error {
		if got := dba("SELECT IS_FREE_LOCK('rsv_b')"); got != "1" {
			return fmt.Errorf("IS_FREE_LOCK = %s", got)
		}
		return nil
	})
	if waited := time.Since(start); waited < reservedTimeout {
		t.Errorf("released after %v, before the timeout %v", waited, reservedTimeout)
	}
	hb, err := pc.Query.ReservedHeartbeat(ctx, &querypb.ReservedHeartbeatRequest{Target: target, ReservedIds: []int64{id}})
	if err != nil || len(hb.GoneIds) != 1 {
		t.Errorf("heartbeat of the expired reservation: %v %v", hb, err)
	}
	// No pooled connection carries either lock.
	for range 20 {
		if got := pooled("SELECT CONCAT_WS(',', IS_USED_LOCK('rsv_a'), IS_USED_LOCK('rsv_b'), 'clean')"); got != "clean" {
			t.Fatalf("pooled connection sees %s", got)
		}
	}
}
