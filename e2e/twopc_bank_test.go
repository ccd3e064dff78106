package e2e

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/e2e/cluster"
	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
)

var (
	bankDuration    = flag.Duration("bank-duration", 20*time.Second, "TestTwoPCBank: how long the transfers run (issue 12's full form: 60s)")
	bankGateKills   = flag.Int("bank-gate-kills", 2, "TestTwoPCBank: how many times the gate is killed with SIGKILL and restarted (full form: 5)")
	bankTabletKills = flag.Int("bank-tablet-kills", 1, "TestTwoPCBank: how many times a tablet (agent and mysqld) is killed with SIGKILL and restarted (full form: 2)")
)

const bankVSchema = `{
  "sharded": true,
  "vindexes": {"hash": {"type": "hash"}},
  "tables": {
    "account": {"column_vindexes": [{"column": "id", "name": "hash"}]},
    "ledger": {"column_vindexes": [{"column": "account", "name": "hash"}]}
  }
}`

// bankOutcome is what a transfer's client saw.
type bankOutcome int

const (
	// bankOK: COMMIT returned OK: the transfer must be applied whole.
	bankOK bankOutcome = iota + 1
	// bankRolledBack: COMMIT said every shard was rolled back.
	bankRolledBack
	// bankUnknown: anything else (the gate died, a statement failed):
	// applied whole or not at all.
	bankUnknown
)

// TestTwoPCBank is issue 12's bank test: 50 accounts over two shards,
// eight clients moving money between accounts of different shards in
// twopc transactions (each transfer also writes one ledger row per
// account, on that account's shard), while the gate, a child process, is
// killed with SIGKILL and restarted and a tablet (agent and mysqld) is
// killed and restarted. Afterwards, once the resolver has finished
// everything (no prepared branch, no record left): every transfer whose
// COMMIT returned OK is applied on both shards, every transfer is applied
// on both or on neither, each balance is its ledger's sum, and the total
// never changed. Short by default; issue 12's full form:
//
//	go test ./e2e -run TestTwoPCBank -bank-duration 60s -bank-gate-kills 5 -bank-tablet-kills 2 -v
func TestTwoPCBank(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts the gate and tablets")
	}
	bin := cluster.BuildMosaic(t)
	c := cluster.StartTopo(t, cluster.Options{
		Keyspaces: []cluster.Keyspace{{Name: "bank", Shards: []string{"-80", "80-"}, VSchema: bankVSchema}},
	})
	// Durable tablets (the default): a commit survives the kill of its
	// mysqld. A dead gate's open transactions go after 5 s.
	c.StartProcShards(t, bin, "--transaction-timeout", "5s", "--innodb-lock-wait-timeout", "5s")
	// At debug level the gate logs every commit's shards and outcome with
	// its connection id, which each transfer records (a problem names it).
	gate := c.StartProcGate(t, bin, "--log-level", "debug", "--transaction-mode", "twopc", "--twopc-abandon-age", "3s",
		"--twopc-resolve-interval", "300ms", "--tablet-wait", "15s", "--health-check-timeout", "3s")
	ctx := t.Context()
	ready := func() {
		t.Helper()
		rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		if err := gate.WaitReady(rctx, "bank", "select count(*) from account"); err != nil {
			t.Fatal(err)
		}
	}
	setup, err := sql.Open("mysql", gate.DSN("bank"))
	if err != nil {
		t.Fatal(err)
	}
	defer setup.Close()
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	if err := gate.WaitReady(rctx, "bank", "select 1"); err != nil {
		t.Fatal(err)
	}
	cancel()
	mustExec(t, setup, "create table account (id bigint primary key, balance int not null)")
	mustExec(t, setup, "create table ledger (tid bigint not null, account bigint not null, delta int not null, primary key (tid, account))")
	ready()
	const clients, initial = 8, 1000
	low, high := idsOnShards(25)
	for _, id := range append(append([]int64{}, low...), high...) {
		mustExec(t, setup, "insert into account (id, balance) values (?, ?)", id, initial)
	}

	var mu sync.Mutex
	outcomes := map[int64]bankOutcome{}
	how := map[int64]string{} // tid → connection id, when, and error
	var commitErrs []string
	record := func(tid int64, o bankOutcome, info string, err error) {
		mu.Lock()
		defer mu.Unlock()
		outcomes[tid] = o
		how[tid] = fmt.Sprintf("%s, ended %s", info, time.Now().Format("15:04:05.000"))
		if err != nil {
			how[tid] += ": " + err.Error()
		}
		if o != bankOK && len(commitErrs) < 10 {
			commitErrs = append(commitErrs, err.Error())
		}
	}
	db, err := sql.Open("mysql", gate.DSN("bank"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxIdleConns(clients)
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for k := range clients {
		var mine [2][]int64
		for j := k; j < len(low); j += clients {
			mine[0] = append(mine[0], low[j])
		}
		for j := k; j < len(high); j += clients {
			mine[1] = append(mine[1], high[j])
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(k), 12))
			for seq := int64(1); runCtx.Err() == nil; seq++ {
				tid := int64(k)<<40 | seq
				from, to := mine[0][rng.IntN(len(mine[0]))], mine[1][rng.IntN(len(mine[1]))]
				if rng.IntN(2) == 0 {
					from, to = to, from
				}
				amount := 1 + rng.IntN(10)
				o, info, err := bankTransfer(runCtx, db, tid, from, to, amount)
				if runCtx.Err() != nil && o != bankOK {
					// Cut by the end of the run: its outcome is unknown.
					o = bankUnknown
				}
				record(tid, o, info, err)
				if o == bankUnknown {
					// The gate may be down: do not spin.
					select {
					case <-runCtx.Done():
					case <-time.After(20 * time.Millisecond):
					}
				}
			}
		}()
	}

	// The kills, spread over the run, on the test's goroutine.
	type kill struct {
		at   time.Duration
		gate bool
	}
	var kills []kill
	d := *bankDuration
	for i := range *bankGateKills {
		kills = append(kills, kill{at: d * time.Duration(2*i+1) / time.Duration(2**bankGateKills), gate: true})
	}
	for i := range *bankTabletKills {
		kills = append(kills, kill{at: d * time.Duration(3*i+2) / time.Duration(3**bankTabletKills+1)})
	}
	start := time.Now()
	tabletKills := 0
	for len(kills) > 0 {
		next := 0
		for i, k := range kills {
			if k.at < kills[next].at {
				next = i
			}
		}
		k := kills[next]
		kills = append(kills[:next], kills[next+1:]...)
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(time.Until(start.Add(k.at))):
		}
		if k.gate {
			gate.Kill9()
			t.Logf("%v: gate killed (SIGKILL)", time.Since(start).Round(time.Millisecond))
			gate.Start(t)
			ready()
			t.Logf("%v: gate back", time.Since(start).Round(time.Millisecond))
			continue
		}
		shard := []string{"-80", "80-"}[tabletKills%2]
		tabletKills++
		victim := c.ProcShards["bank"][shard].Tablets[0]
		victim.Kill9(t)
		t.Logf("%v: tablet %s of bank/%s killed (SIGKILL, agent and mysqld)", time.Since(start).Round(time.Millisecond), victim.AliasString, shard)
		victim.Start(t)
		wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		err := victim.WaitHealth(wctx, func(h *querypb.StreamHealthResponse) bool {
			return h.Serving && h.Target.TabletType == topodatapb.TabletType_PRIMARY
		})
		cancel()
		if err != nil {
			t.Fatalf("restarted tablet: %v", err)
		}
		t.Logf("%v: tablet %s back", time.Since(start).Round(time.Millisecond), victim.AliasString)
	}
	select {
	case <-ctx.Done():
	case <-time.After(time.Until(start.Add(d))):
	}
	stop()
	wg.Wait()

	// The resolver finishes what the kills left: no prepared branch, no
	// record.
	shards := map[string]*sql.DB{}
	for _, sh := range []string{"-80", "80-"} {
		p := c.ProcShards["bank"][sh].Tablets[0]
		d, err := sql.Open("mysql", fmt.Sprintf("%s:%s@tcp(127.0.0.1:%d)/bank", cluster.DirectUser, cluster.DirectPassword, p.MySQLPort))
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		shards[sh] = d
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		left := ""
		for sh, d := range shards {
			for _, r := range queryRows(t, d, "xa recover") {
				if strings.Contains(r, "mosaic-") {
					left += fmt.Sprintf(" %s: prepared %s;", sh, r)
				}
			}
			for _, r := range queryRows(t, d, "select dtid, state from _mosaic.dt_state") {
				left += fmt.Sprintf(" %s: record %s;", sh, r)
			}
		}
		if left == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("distributed transactions left unresolved:%s", left)
		}
		time.Sleep(300 * time.Millisecond)
	}

	balances := map[int64]int{}
	ledger := map[int64][]int64{} // tid → accounts
	sums := map[int64]int{}       // account → sum of deltas
	total := 0
	for _, d := range shards {
		rows, err := d.Query("select id, balance from account")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id int64
			var b int
			if err := rows.Scan(&id, &b); err != nil {
				t.Fatal(err)
			}
			balances[id] = b
			total += b
		}
		rows.Close()
		rows, err = d.Query("select tid, account, delta from ledger")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var tid, acct int64
			var delta int
			if err := rows.Scan(&tid, &acct, &delta); err != nil {
				t.Fatal(err)
			}
			ledger[tid] = append(ledger[tid], acct)
			sums[acct] += delta
		}
		rows.Close()
	}
	counts := map[bankOutcome]int{}
	for _, o := range outcomes {
		counts[o]++
	}
	t.Logf("%d transfers: %d COMMIT OK, %d rolled back, %d unknown (gate killed, statement failed); %d applied; first errors: %q",
		len(outcomes), counts[bankOK], counts[bankRolledBack], counts[bankUnknown], len(ledger), commitErrs)
	if counts[bankOK] == 0 {
		t.Fatal("no transfer committed")
	}
	var problems []string
	var suspects []int64
	for tid, o := range outcomes {
		n := len(ledger[tid])
		if (n != 0 && n != 2) || (o == bankOK && n != 2) || (o == bankRolledBack && n != 0) {
			suspects = append(suspects, tid)
		}
		switch {
		case n != 0 && n != 2:
			problems = append(problems, fmt.Sprintf("transfer %x half-applied: ledger rows on %v only (%s)", tid, ledger[tid], how[tid]))
		case o == bankOK && n != 2:
			problems = append(problems, fmt.Sprintf("transfer %x: COMMIT returned OK but it is not applied (%s)", tid, how[tid]))
		case o == bankRolledBack && n != 0:
			problems = append(problems, fmt.Sprintf("transfer %x: COMMIT said it was rolled back but it is applied (%s)", tid, how[tid]))
		}
	}
	for tid := range ledger {
		if _, ok := outcomes[tid]; !ok {
			problems = append(problems, fmt.Sprintf("transfer %x applied but never run", tid))
		}
	}
	for id, b := range balances {
		if b != initial+sums[id] {
			problems = append(problems, fmt.Sprintf("account %d: balance %d, but its ledger says %d", id, b, initial+sums[id]))
		}
	}
	if want := initial * (len(low) + len(high)); total != want || len(balances) != len(low)+len(high) {
		problems = append(problems, fmt.Sprintf("%d accounts with a total of %d, want %d and %d", len(balances), total, len(low)+len(high), want))
	}
	if len(problems) > 0 {
		if len(problems) > 20 {
			problems = append(problems[:20], fmt.Sprintf("... and %d more", len(problems)-20))
		}
		t.Errorf("%d problems:\n%s", len(problems), strings.Join(problems, "\n"))
		// What the gate logged of the suspects' connections (ids repeat
		// across the gate's restarts: the times tell them apart).
		for _, tid := range suspects {
			var id int64
			if _, err := fmt.Sscanf(how[tid], "gate conn %d", &id); err != nil {
				continue
			}
			lines, err := gate.LogLines(fmt.Sprintf(" conn=%d ", id))
			if err != nil {
				t.Log(err)
				continue
			}
			t.Logf("gate log of conn %d (transfer %x):\n%s", id, tid, strings.Join(lines, "\n"))
		}
	}
}

// bankTransfer moves amount from one account to another in a twopc
// transaction on a connection of its own, with one ledger row per account.
//
// info names the gate's connection (its id in the gate's log) and the
// accounts' shards' order.
func bankTransfer(ctx context.Context, db *sql.DB, tid, from, to int64, amount int) (o bankOutcome, info string, err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return bankUnknown, "no connection", err
	}
	defer conn.Close()
	var connID int64
	if err := conn.QueryRowContext(ctx, "select connection_id()").Scan(&connID); err != nil {
		return bankUnknown, "no connection id", err
	}
	info = fmt.Sprintf("gate conn %d, from %d to %d", connID, from, to)
	stmts := []struct {
		q    string
		args []any
	}{
		{"begin", nil},
		{"update account set balance = balance - ? where id = ?", []any{amount, from}},
		{"update account set balance = balance + ? where id = ?", []any{amount, to}},
		{"insert into ledger (tid, account, delta) values (?, ?, ?), (?, ?, ?)", []any{tid, from, -amount, tid, to, amount}},
	}
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s.q, s.args...); err != nil {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "rollback")
			_ = conn.Raw(func(any) error { return errors.New("discard") })
			return bankUnknown, info, fmt.Errorf("%s: %w", s.q, err)
		}
	}
	// COMMIT must not be cut by the end of the run: its answer counts.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	_, err = conn.ExecContext(cctx, "commit")
	switch {
	case err == nil:
		return bankOK, info, nil
	case strings.Contains(err.Error(), "rolled back on every shard"):
		return bankRolledBack, info, err
	}
	return bankUnknown, info, fmt.Errorf("commit: %w", err)
}
