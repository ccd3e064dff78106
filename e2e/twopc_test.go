package e2e

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/e2e/cluster"
	"github.com/mosaicdb/mosaic/proxy"
	"github.com/mosaicdb/mosaic/tablet"
)

// xaPrepared lists the Mosaic XA branches prepared in a shard's mysqld.
func xaPrepared(t *testing.T, c *cluster.Cluster, shard string) []string {
	t.Helper()
	var out []string
	for _, r := range queryRows(t, direct(t, c, "bank", shard), "xa recover") {
		if strings.Contains(r, "mosaic-") {
			out = append(out, r)
		}
	}
	return out
}

// dtRecords lists the distributed transaction records on a shard.
func dtRecords(t *testing.T, c *cluster.Cluster, shard string) []string {
	t.Helper()
	d := direct(t, c, "bank", shard)
	if count(t, d, "select count(*) from information_schema.tables where table_schema = '_mosaic' and table_name = 'dt_state'") == 0 {
		return nil
	}
	return queryRows(t, d, "select dtid, state, participants from _mosaic.dt_state")
}

func balanceOn(t *testing.T, c *cluster.Cluster, shard string, id int64) int {
	t.Helper()
	return count(t, direct(t, c, "bank", shard), fmt.Sprintf("select balance from account where id = %d", id))
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestTwoPC checks atomic commits across shards with transaction_mode
// 'twopc': the normal path, a gate that dies before and after the commit
// point (its coordinator stopped by a test hook, then a new gate started),
// a participant whose tablet restarts between prepare and commit, and a
// participant that is gone at prepare time.
// twoPCAbandonAge is the abandon age of TestTwoPC's gates: long enough
// for a tablet restart inside a commit, short enough for the recovery
// tests.
const twoPCAbandonAge = 4 * time.Second

func TestTwoPC(t *testing.T) {
	// hook, when set, runs at each step of a two-phase commit.
	var hook atomic.Pointer[func(proxy.TwoPCStep, string) error]
	var stepsMu sync.Mutex
	var steps []string
	c := cluster.Start(t, cluster.Options{
		Keyspaces: []cluster.Keyspace{{Name: "bank", Shards: []string{"-80", "80-"}, VSchema: accountVSchema}},
		Tablets: tabletOptionsWith(func(cfg *tablet.Config) {
			// A dead coordinator's open transaction on the metadata
			// manager goes away this fast.
			cfg.Query.TxIdleTimeout = 3 * time.Second
		}),
		Gate: func(cfg *proxy.Config) {
			// Long enough for a tablet restart inside a commit (the
			// resolver would roll back a transaction paused that long),
			// short enough for the recovery tests.
			cfg.TwoPCAbandonAge = twoPCAbandonAge
			cfg.TwoPCResolveInterval = 300 * time.Millisecond
			cfg.TwoPCTestHook = func(step proxy.TwoPCStep, dtid string) error {
				stepsMu.Lock()
				steps = append(steps, string(step))
				stepsMu.Unlock()
				if h := hook.Load(); h != nil {
					return (*h)(step, dtid)
				}
				return nil
			}
		},
	})
	setHook := func(f func(proxy.TwoPCStep, string) error) {
		if f == nil {
			hook.Store(nil)
		} else {
			hook.Store(&f)
		}
	}
	takeSteps := func() string {
		stepsMu.Lock()
		defer stepsMu.Unlock()
		s := strings.Join(steps, ",")
		steps = nil
		return s
	}
	ctx := context.Background()
	db := c.DB(t, "bank", "interpolateParams=true")
	var gate atomic.Pointer[sql.DB]
	gate.Store(c.DB(t, "bank", "interpolateParams=true"))
	mustExec(t, db, "create table account (id bigint primary key, balance int)")
	low, high := idsOnShards(1)
	a, b := low[0], high[0] // a on -80, the metadata manager; b on 80-
	mustExec(t, db, "insert into account (id, balance) values (?, 100), (?, 100)", a, b)
	// transfer moves amount from a to b in a twopc transaction on a
	// session of its own. It returns the first error, COMMIT's included.
	transfer := func(amount int) error {
		conn, err := gate.Load().Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		for _, q := range []string{
			"set transaction_mode = 'twopc'",
			"begin",
			fmt.Sprintf("update account set balance = balance - %d where id = %d", amount, a),
			fmt.Sprintf("update account set balance = balance + %d where id = %d", amount, b),
			"commit",
		} {
			if _, err := conn.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		return nil
	}
	// restartGate starts a new gate after the old one "died". It belongs
	// to the whole test, not to the subtest that starts it.
	restartGate := func() {
		c.StopGate()
		c.StartGate(t)
	}
	settled := func(t *testing.T) {
		t.Helper()
		waitFor(t, "every branch and record resolved", func() bool {
			return len(xaPrepared(t, c, "80-")) == 0 && len(dtRecords(t, c, "-80")) == 0
		})
	}
	stopped := errors.New("the gate dies here")

	t.Run("Commit", func(t *testing.T) {
		if err := transfer(10); err != nil {
			t.Fatal(err)
		}
		if s := takeSteps(); s != "created,prepared,committed" {
			t.Fatalf("two-phase commit steps = %q", s)
		}
		if got, want := balanceOn(t, c, "-80", a)+balanceOn(t, c, "80-", b), 200; got != want || balanceOn(t, c, "80-", b) != 110 {
			t.Fatalf("balances %d and %d", balanceOn(t, c, "-80", a), balanceOn(t, c, "80-", b))
		}
		settled(t)
		// A branch whose statement changed nothing: MariaDB drops it when
		// prepared, and XA COMMIT answers XA_RBROLLBACK; the commit is fine.
		conn0, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn0.Close()
		execC(t, conn0, "set transaction_mode = 'twopc'")
		execC(t, conn0, "begin")
		execC(t, conn0, "update account set balance = balance where id = ?", a)
		execC(t, conn0, "update account set balance = balance where id = ?", b)
		execC(t, conn0, "commit")
		if s := takeSteps(); s != "created,prepared,committed" {
			t.Fatalf("two-phase commit steps = %q", s)
		}
		settled(t)
		// One shard written: no two-phase commit.
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		execC(t, conn, "set transaction_mode = 'twopc'")
		execC(t, conn, "begin")
		queryRows(t, conn, "select * from account where id = ?", a)
		execC(t, conn, "update account set balance = balance where id = ?", b)
		execC(t, conn, "commit")
		if s := takeSteps(); s != "" {
			t.Fatalf("a transaction that wrote one shard took two-phase steps %q", s)
		}
	})

	t.Run("GateDiesAfterPrepare", func(t *testing.T) {
		setHook(func(step proxy.TwoPCStep, _ string) error {
			if step == proxy.TwoPCPrepared {
				return stopped
			}
			return nil
		})
		if err := transfer(5); err == nil {
			t.Fatal("commit succeeded through a dead coordinator")
		}
		c.StopGate()
		setHook(nil)
		// In doubt: 80- holds a prepared branch; nothing is visible.
		if p := xaPrepared(t, c, "80-"); len(p) != 1 {
			t.Fatalf("prepared branches on 80-: %q", p)
		}
		if r := dtRecords(t, c, "-80"); len(r) != 1 || !strings.Contains(r[0], "|PREPARE|bank/80-") {
			t.Fatalf("records on -80: %q", r)
		}
		restartGate()
		settled(t)
		// Rolled back everywhere.
		if x, y := balanceOn(t, c, "-80", a), balanceOn(t, c, "80-", b); x != 90 || y != 110 {
			t.Fatalf("balances after recovery %d and %d, want 90 and 110", x, y)
		}
	})

	t.Run("GateDiesAfterCommitPoint", func(t *testing.T) {
		setHook(func(step proxy.TwoPCStep, _ string) error {
			if step == proxy.TwoPCCommitted {
				return stopped
			}
			return nil
		})
		if err := transfer(7); err == nil {
			t.Fatal("commit reported success through a dead coordinator")
		}
		c.StopGate()
		setHook(nil)
		// Decided: -80 committed with its COMMIT record, 80- in doubt.
		if r := dtRecords(t, c, "-80"); len(r) != 1 || !strings.Contains(r[0], "|COMMIT|") {
			t.Fatalf("records on -80: %q", r)
		}
		if p := xaPrepared(t, c, "80-"); len(p) != 1 {
			t.Fatalf("prepared branches on 80-: %q", p)
		}
		if x := balanceOn(t, c, "-80", a); x != 83 {
			t.Fatalf("-80 balance %d, want 83", x)
		}
		restartGate()
		settled(t)
		if x, y := balanceOn(t, c, "-80", a), balanceOn(t, c, "80-", b); x != 83 || y != 117 {
			t.Fatalf("balances after recovery %d and %d, want 83 and 117", x, y)
		}
	})

	t.Run("ParticipantRestartsBetweenPrepareAndCommit", func(t *testing.T) {
		atPrepared := make(chan struct{})
		resume := make(chan struct{})
		setHook(func(step proxy.TwoPCStep, _ string) error {
			if step == proxy.TwoPCPrepared {
				close(atPrepared)
				<-resume
			}
			return nil
		})
		defer setHook(nil)
		var release sync.Once
		// A failed check must not leave the commit parked in the hook.
		defer release.Do(func() { close(resume) })
		done := make(chan error, 1)
		// The transaction's record is younger than this.
		start := time.Now()
		go func() { done <- transfer(3) }()
		select {
		case <-atPrepared:
		case err := <-done:
			t.Fatalf("commit ended before prepare: %v", err)
		}
		tb := c.Shards["bank"]["80-"].Primary()
		tb.Restart(t)
		// The prepared branch survived its mysqld's restart, unless the
		// restart outlasted the abandon age (a loaded machine) and the
		// resolver has rolled the paused transaction back, which the
		// commit's answer then has to say.
		p := xaPrepared(t, c, "80-")
		slow := time.Since(start) >= twoPCAbandonAge
		if len(p) != 1 && !(slow && len(p) == 0) {
			t.Fatalf("prepared branches on 80- %v after the commit began, restart included: %q", time.Since(start).Round(time.Millisecond), p)
		}
		release.Do(func() { close(resume) })
		wantA, wantB := 80, 120
		if err := <-done; err != nil {
			// Atomic either way: a restart slower than the abandon age
			// lets the resolver roll the paused transaction back first.
			if num, _ := mysqlErr(t, err); num != 1180 || !strings.Contains(err.Error(), "rolled back on every shard") {
				t.Fatalf("commit across a participant restart: %v", err)
			}
			t.Logf("the resolver rolled back the paused transaction: %v", err)
			wantA, wantB = 83, 117
		} else if len(p) == 0 {
			t.Fatal("the commit succeeded though its prepared branch on 80- was gone after the restart")
		}
		settled(t)
		if x, y := balanceOn(t, c, "-80", a), balanceOn(t, c, "80-", b); x != wantA || y != wantB {
			t.Fatalf("balances %d and %d, want %d and %d", x, y, wantA, wantB)
		}
	})

	t.Run("ParticipantGoneAtPrepare", func(t *testing.T) {
		tb := c.Shards["bank"]["80-"].Primary()
		beforeA, beforeB := balanceOn(t, c, "-80", a), balanceOn(t, c, "80-", b)
		setHook(func(step proxy.TwoPCStep, _ string) error {
			if step == proxy.TwoPCCreated {
				tb.Stop()
			}
			return nil
		})
		err := transfer(1)
		setHook(nil)
		if num, _ := mysqlErr(t, err); num != 1180 || !strings.Contains(err.Error(), "rolled back on every shard") {
			t.Fatalf("commit with a participant gone: %v", err)
		}
		tb.Restart(t)
		c.WaitServing(t)
		settled(t)
		if x, y := balanceOn(t, c, "-80", a), balanceOn(t, c, "80-", b); x != beforeA || y != beforeB {
			t.Fatalf("balances %d and %d after a rolled-back transfer, want %d and %d", x, y, beforeA, beforeB)
		}
	})
}
