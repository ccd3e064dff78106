package e2e

import (
	"database/sql"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/mtls"
	"github.com/mosaicdb/mosaic/tablet/vrepl/workflow"
)

// TestMoveTablesByType switches a table move's traffic one tablet type at
// a time, as Vitess users do: replica reads first, then primary (writes),
// then back per type. customer moves from commerce to customer (both
// unsharded, a primary and a replica each). A marker row written straight
// into the target's primary mysqld (and so to its replica), never into
// the source, tells which keyspace answers a session: a session on
// commerce@replica finds it once replica reads are switched, while a
// session on commerce (primary) does not, and its writes land in the
// source's mysqld; after the switch of primary traffic the writes land in
// the target's. With writes on the target, replica reads go back to the
// source alone, where the reverse streams bring the target's writes, and
// a switch without types moves them again. Refusals of types that are
// not where they would move from, and of reads while the streams feeding
// the target are stopped, change nothing.
func TestMoveTablesByType(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four mariadbd")
	}
	rc := startReshardCluster(t, []reshardSpec{
		{Keyspace: "commerce", Sources: []string{"0"}, VSchema: `{}`},
		{Keyspace: "customer", Sources: []string{"0"}, VSchema: `{}`},
	}, 1, "--vrepl-copy-cycle", "2s")
	m := workflow.New(rc.TS, rc.TabletCreds(t, mtls.RoleOperator), slog.New(slog.DiscardHandler))

	primary := rc.DB(t, "commerce")
	replica := rc.DB(t, "commerce@replica")
	if _, err := primary.Exec("CREATE TABLE customer (id BIGINT NOT NULL PRIMARY KEY, name VARCHAR(64) NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	n := 200
	var vals []string
	for id := 1; id <= n; id++ {
		vals = append(vals, fmt.Sprintf("(%d, 'c%d')", id, id))
	}
	if _, err := primary.Exec("INSERT INTO customer (id, name) VALUES " + strings.Join(vals, ",")); err != nil {
		t.Fatal(err)
	}
	const marker = 999999
	count := func(db *sql.DB, id int) (int, error) {
		var c int
		err := db.QueryRow(fmt.Sprintf("SELECT COUNT(*) FROM customer WHERE id = %d", id)).Scan(&c)
		return c, err
	}
	// waitCount polls until db counts want rows of id.
	waitCount := func(db *sql.DB, id, want int, what string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			c, err := count(db, id)
			if err == nil && c == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d rows of id %d (%v), want %d", what, c, id, err, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	srcDB, dstDB := rc.shardDB("commerce", "0"), rc.shardDB("customer", "0")
	// write inserts id through the primary session and reports whether
	// it landed at once in the source's or the target's mysqld.
	nextID := n
	write := func(what, wantKs string) {
		t.Helper()
		nextID++
		if _, err := primary.Exec(fmt.Sprintf("INSERT INTO customer (id, name) VALUES (%d, 'w')", nextID)); err != nil {
			t.Fatalf("%s: write: %v", what, err)
		}
		db := srcDB
		if wantKs == "customer" {
			db = dstDB
		}
		if c, err := count(db, nextID); err != nil || c != 1 {
			t.Errorf("%s: the write of id %d is not in %s's mysqld at once (%d, %v)", what, nextID, wantKs, c, err)
		}
	}
	show := func() string {
		return rc.mustCtl(t, "movetables", "show", "--target-keyspace", "customer", "--workflow", "mt")
	}
	ctl := func(args ...string) string {
		out := rc.mustCtl(t, append(append([]string{"movetables"}, args...), "--target-keyspace", "customer", "--workflow", "mt")...)
		t.Log(strings.TrimSpace(out))
		return out
	}
	refused := func(want string, args ...string) {
		t.Helper()
		before := rc.rulesText(t)
		out, err := rc.ctl(append(append([]string{"movetables"}, args...), "--target-keyspace", "customer", "--workflow", "mt")...)
		if err == nil || !strings.Contains(out, want) {
			t.Errorf("movetables %v: err %v, output %q; want a refusal with %q", args, err, out, want)
		}
		if after := rc.rulesText(t); after != before {
			t.Errorf("movetables %v changed the rules:\n%s\nwere\n%s", args, after, before)
		}
	}

	rc.mustCtl(t, "movetables", "create", "--workflow", "mt", "--source-keyspace", "commerce", "--target-keyspace", "customer", "--tables", "customer")
	waitReportOf(t, m, "customer", "mt", "caught up", func(r *workflow.Report) bool { ok, _ := r.Caught(1); return ok })
	if _, err := dstDB.Exec(fmt.Sprintf("INSERT INTO customer (id, name) VALUES (%d, 'only in the target')", marker)); err != nil {
		t.Fatal(err)
	}
	// Before any switch both sessions read the source.
	waitCount(replica, n, 1, "replica session before the switch")
	if c, err := count(replica, marker); err != nil || c != 0 {
		t.Fatalf("replica session before the switch reads the target (%d, %v)", c, err)
	}
	refused("replica traffic is on the source shards already", "reverse-traffic", "--tablet-types", "replica")
	// Reads go only to a target that its streams keep in step.
	ctl("stop")
	refused("is STOPPED", "switch-traffic", "--tablet-types", "replica")
	ctl("start")
	waitReportOf(t, m, "customer", "mt", "caught up after start", func(r *workflow.Report) bool { ok, _ := r.Caught(1); return ok })

	t.Log("replica reads")
	out := ctl("switch-traffic", "--tablet-types", "replica")
	if !strings.Contains(out, "replica traffic of the tables moved from commerce (0) to customer (0) (commit") {
		t.Errorf("switch-traffic --tablet-types replica said:\n%s", out)
	}
	rules := rc.rulesText(t)
	for _, want := range []string{"customer@replica -> customer.customer", "commerce.customer@replica -> customer.customer", "customer -> commerce.customer"} {
		if !strings.Contains(rules, want+"\n") && !strings.HasSuffix(rules, want) {
			t.Errorf("rules lack %q:\n%s", want, rules)
		}
	}
	if s := show(); !strings.Contains(s, "primary,rdonly served by commerce, replica served by customer") {
		t.Errorf("show:\n%s", s)
	}
	// The replica session reads the target; the primary session
	// reads and writes the source.
	waitCount(replica, marker, 1, "replica session after the switch of replica reads")
	if c, err := count(primary, marker); err != nil || c != 0 {
		t.Errorf("primary session after the switch of replica reads reads the target (%d, %v)", c, err)
	}
	write("primary write after the switch of replica reads", "commerce")
	// The forward streams bring it to the target and its replica.
	waitCount(replica, nextID, 1, "the source's write on the target's replica")
	refused("replica traffic is on the target shards already", "switch-traffic", "--tablet-types", "replica")
	refused("rdonly traffic is on the source shards already", "reverse-traffic", "--tablet-types", "rdonly")
	if out, err := rc.ctl("routing-rules", "apply", "--dry-run", "--rules", `{"rules":[{"from_table":"customer@primary","to_tables":["customer.customer"]}]}`); err == nil || !strings.Contains(out, "tablet type \"primary\"") {
		t.Errorf("routing-rules apply of a rule for primary: err %v, output %q", err, out)
	}

	// Back, and again.
	ctl("reverse-traffic", "--tablet-types", "replica")
	waitCount(replica, marker, 0, "replica session after reverse-traffic of replica reads")
	if rules := rc.rulesText(t); strings.Contains(rules, "@") {
		t.Errorf("typed rules left after reverse-traffic of the only switched type:\n%s", rules)
	}
	ctl("switch-traffic", "--tablet-types", "replica")
	waitCount(replica, marker, 1, "replica session after the second switch of replica reads")

	t.Log("primary")
	out = ctl("switch-traffic")
	if !strings.Contains(out, "primary,rdonly traffic of the tables moved from commerce (0) to customer (0); writes held") {
		t.Errorf("switch-traffic said:\n%s", out)
	}
	if rules := rc.rulesText(t); strings.Contains(rules, "@") || !strings.Contains(rules, "customer -> customer.customer") {
		t.Errorf("rules after the switch of every type:\n%s", rules)
	}
	if s := show(); !strings.Contains(s, "primary,replica,rdonly served by customer") {
		t.Errorf("show:\n%s", s)
	}
	waitCount(primary, marker, 1, "primary session after the switch")
	write("primary write after the switch", "customer")
	refused("already", "switch-traffic")

	// Replica reads back to the source while writes stay on the
	// target: the reverse streams keep the source's replica in step.
	t.Log("replica reads back while writes stay")
	ctl("reverse-traffic", "--tablet-types", "replica")
	if s := show(); !strings.Contains(s, "replica served by commerce, primary,rdonly served by customer") {
		t.Errorf("show:\n%s", s)
	}
	waitCount(replica, marker, 0, "replica session after reverse-traffic of replica reads alone")
	write("primary write with replica reads on the source", "customer")
	waitCount(replica, nextID, 1, "the target's write on the source's replica")
	// A switch without types moves what is left: the replica reads.
	out = ctl("switch-traffic")
	if !strings.Contains(out, "replica traffic of the tables moved from commerce (0) to customer (0) (commit") {
		t.Errorf("switch-traffic of what was left said:\n%s", out)
	}
	waitCount(replica, marker, 1, "replica session after the switch of what was left")

	t.Log("reverse per type")
	out = ctl("reverse-traffic", "--tablet-types", "primary")
	if !strings.Contains(out, "primary traffic of the tables moved from customer (0) to commerce (0); writes held") {
		t.Errorf("reverse-traffic --tablet-types primary said:\n%s", out)
	}
	if s := show(); !strings.Contains(s, "primary served by commerce, replica,rdonly served by customer") {
		t.Errorf("show:\n%s", s)
	}
	waitCount(primary, marker, 0, "primary session after reverse-traffic of primary")
	write("primary write after reverse-traffic of primary", "commerce")
	// Replica reads stay on the target, which the forward streams
	// keep in step again.
	if c, err := count(replica, marker); err != nil || c != 1 {
		t.Errorf("replica session after reverse-traffic of primary (%d, %v)", c, err)
	}
	waitCount(replica, nextID, 1, "the source's write on the target's replica after reverse-traffic of primary")

	ctl("reverse-traffic")
	waitCount(replica, marker, 0, "replica session after reverse-traffic of the reads")
	if rules := rc.rulesText(t); strings.Contains(rules, "@") || !strings.Contains(rules, "customer -> commerce.customer") {
		t.Errorf("rules after every type is back:\n%s", rules)
	}
	refused("no traffic has been switched", "reverse-traffic")
}
