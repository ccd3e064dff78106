package tablet_test

import (
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/sqlerr"
	"github.com/mosaicdb/mosaic/tablet/tmclient"
)

// testLockWaits checks what a deadlock detector sees and does on one
// tablet: a statement of one tagged transaction waiting on a row another
// holds is reported with both tags once it has waited min_wait_ms; an
// abort naming another statement, or a transaction that does not wait,
// does nothing; the right abort makes the waiting statement fail with
// 1213 (SQLSTATE 40001) and the cycle, rolls its transaction back, and
// leaves the other transaction alone. A twopc branch PREPAREd is never
// aborted.
func testLockWaits(t *testing.T, pc *tmclient.Client, target *querypb.Target) {
	ctx := t.Context()
	exec := func(txID int64, sql string) (*querypb.QueryResult, error) {
		resp, err := pc.Query.Execute(ctx, &querypb.ExecuteRequest{Target: target, TransactionId: txID, Sql: sql})
		if err != nil {
			return nil, err
		}
		return resp.Result, nil
	}
	mustExec := func(txID int64, sql string) {
		t.Helper()
		if _, err := exec(txID, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	begin := func(dtid string, sql string) int64 {
		t.Helper()
		tag := &querypb.TransactionTag{Dtid: dtid, StartUnixNano: time.Now().UnixNano()}
		be, err := pc.Query.BeginExecute(ctx, &querypb.BeginExecuteRequest{Target: target, Sql: sql, BeginOptions: &querypb.BeginOptions{Tag: tag}})
		if err != nil || be.Error != nil {
			t.Fatalf("begin %s: %v %v", sql, err, be.GetError())
		}
		return be.TransactionId
	}
	mustExec(0, "CREATE TABLE lock_waits (id INT PRIMARY KEY, v INT NOT NULL)")
	mustExec(0, "INSERT INTO lock_waits VALUES (1, 0), (2, 0)")

	// Nothing runs long: the tablet does not even ask mysqld.
	lw, err := pc.Query.LockWaits(ctx, &querypb.LockWaitsRequest{MinWaitMs: 50})
	if err != nil || len(lw.Waits) != 0 || lw.ReadUnixNano != 0 || lw.Shard != target.Shard {
		t.Fatalf("idle tablet: %v %v", lw, err)
	}

	holder := begin("mosaic-holder", "UPDATE lock_waits SET v = v + 1 WHERE id = 1")
	waiter := begin("mosaic-waiter", "UPDATE lock_waits SET v = v + 1 WHERE id = 2")
	waitErr := make(chan error, 1)
	go func() {
		_, err := exec(waiter, "UPDATE lock_waits SET v = v + 10 WHERE id = 1")
		waitErr <- err
	}()

	var wait *querypb.LockWait
	deadline := time.Now().Add(10 * time.Second)
	for wait == nil {
		if time.Now().After(deadline) {
			t.Fatal("the waiting statement was never reported")
		}
		lw, err := pc.Query.LockWaits(ctx, &querypb.LockWaitsRequest{MinWaitMs: 50})
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range lw.Waits {
			if w.Waiter.GetTag().GetDtid() == "mosaic-waiter" {
				wait = w
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if wait.Waiter.TransactionId != waiter || wait.Waiter.Statement != 2 || wait.Waiter.TrxId == 0 || wait.RequestedLock == "" ||
		wait.Blocker.TransactionId != holder || wait.Blocker.GetTag().GetDtid() != "mosaic-holder" || wait.WaitedMs < 50 {
		t.Fatalf("reported wait = %v", wait)
	}

	abort := func(txID int64, stmt uint64) *querypb.AbortDeadlockVictimResponse {
		t.Helper()
		resp, err := pc.Query.AbortDeadlockVictim(ctx, &querypb.AbortDeadlockVictimRequest{
			TransactionId: txID, Statement: stmt, TrxId: wait.Waiter.TrxId, RequestedLock: wait.RequestedLock, Cycle: "test cycle",
		})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if r := abort(waiter, 1); r.Aborted {
		t.Errorf("an abort of a statement that finished long ago went through")
	}
	if r := abort(holder, 1); r.Aborted {
		t.Errorf("an abort of a transaction that does not wait went through")
	}
	select {
	case err := <-waitErr:
		t.Fatalf("the waiting statement ended before its abort: %v", err)
	default:
	}
	if r := abort(waiter, 2); !r.Aborted {
		t.Fatalf("abort of the waiting statement refused: %s", r.Reason)
	}
	select {
	case err := <-waitErr:
		e := sqlerr.FromError(err)
		if e == nil || e.Num != sqlerr.ERDeadlock || e.State != "40001" || !e.TxEnded || e.Deadlock != "test cycle" {
			t.Fatalf("victim's statement: %v (%+v)", err, e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the aborted statement still waits")
	}
	if _, err := exec(waiter, "SELECT 1"); !sqlerr.IsTxEnded(err) {
		t.Errorf("the victim's transaction is still usable: %v", err)
	}
	// The victim's lock on row 2 is gone; the holder goes on.
	mustExec(holder, "UPDATE lock_waits SET v = v + 1 WHERE id = 2")
	if _, err := pc.Query.Commit(ctx, &querypb.CommitRequest{Target: target, TransactionId: holder}); err != nil {
		t.Fatal(err)
	}
	res, err := exec(0, "SELECT GROUP_CONCAT(v ORDER BY id) FROM lock_waits")
	if err != nil {
		t.Fatal(err)
	}
	if got := flat(values(t, res)); got != "1,1" {
		t.Errorf("rows = %s, want 1,1 (the victim's updates rolled back)", got)
	}

	// A twopc branch PREPAREd keeps its locks until its commit, and runs
	// no statement: a statement waiting behind it is reported (behind no
	// transaction of the tablet's), but an abort naming the branch does
	// nothing, and the branch commits.
	xid := &querypb.Xid{Gtrid: "mosaic-lockwaits-prepared", Bqual: target.Keyspace + "/" + target.Shard}
	be, err := pc.Query.BeginExecute(ctx, &querypb.BeginExecuteRequest{Target: target, Sql: "UPDATE lock_waits SET v = v + 1 WHERE id = 1",
		BeginOptions: &querypb.BeginOptions{Xid: xid, Tag: &querypb.TransactionTag{Dtid: xid.Gtrid, StartUnixNano: time.Now().UnixNano()}}})
	if err != nil || be.Error != nil {
		t.Fatalf("begin the branch: %v %v", err, be.GetError())
	}
	if _, err := pc.Query.Prepare(ctx, &querypb.PrepareRequest{Target: target, TransactionId: be.TransactionId}); err != nil {
		t.Fatalf("prepare: %v", err)
	}
	behind := begin("mosaic-behind-prepared", "SELECT 1")
	behindErr := make(chan error, 1)
	go func() {
		_, err := exec(behind, "UPDATE lock_waits SET v = v + 10 WHERE id = 1")
		behindErr <- err
	}()
	wait = nil
	deadline = time.Now().Add(10 * time.Second)
	for wait == nil {
		if time.Now().After(deadline) {
			t.Fatal("the statement waiting behind the prepared branch was never reported")
		}
		lw, err := pc.Query.LockWaits(ctx, &querypb.LockWaitsRequest{MinWaitMs: 50})
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range lw.Waits {
			if w.Waiter.GetTag().GetDtid() == "mosaic-behind-prepared" {
				wait = w
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if wait.Blocker.TransactionId != 0 || wait.Blocker.GetTag() != nil {
		t.Errorf("the prepared branch is reported as a transaction of the tablet: %v", wait.Blocker)
	}
	for stmt := uint64(1); stmt <= 2; stmt++ {
		resp, err := pc.Query.AbortDeadlockVictim(ctx, &querypb.AbortDeadlockVictimRequest{
			TransactionId: be.TransactionId, Statement: stmt, TrxId: wait.Waiter.TrxId, RequestedLock: wait.RequestedLock, Cycle: "test cycle",
		})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Aborted {
			t.Fatalf("an abort of a prepared branch went through")
		}
	}
	select {
	case err := <-behindErr:
		t.Fatalf("the statement behind the prepared branch ended before its commit: %v", err)
	default:
	}
	if _, err := pc.Query.CommitPrepared(ctx, &querypb.CommitPreparedRequest{Target: target, Xid: xid}); err != nil {
		t.Fatalf("commit the prepared branch: %v", err)
	}
	select {
	case err := <-behindErr:
		if err != nil {
			t.Fatalf("the statement behind the prepared branch: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the statement behind the prepared branch still waits after its commit")
	}
	if _, err := pc.Query.Commit(ctx, &querypb.CommitRequest{Target: target, TransactionId: behind}); err != nil {
		t.Fatal(err)
	}
	res, err = exec(0, "SELECT GROUP_CONCAT(v ORDER BY id) FROM lock_waits")
	if err != nil {
		t.Fatal(err)
	}
	if got := flat(values(t, res)); got != "12,1" {
		t.Errorf("rows = %s, want 12,1 (the prepared branch and the statement behind it committed)", got)
	}
}
