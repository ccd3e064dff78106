package vrepl_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/mosaicdb/mosaic/keyrange"
	"github.com/mosaicdb/mosaic/mtls/mtlstest"
	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/vreplicationpb"
	"github.com/mosaicdb/mosaic/router/vindexes"
	"github.com/mosaicdb/mosaic/tablet"
	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
	"github.com/mosaicdb/mosaic/tablet/tablettest"
	"github.com/mosaicdb/mosaic/tablet/vrepl"
	"github.com/mosaicdb/mosaic/topo"
	"github.com/mosaicdb/mosaic/topo/etcdstore/etcdtest"
)

// env is a keyspace with source and target shards on real tablets.
type env struct {
	t       *testing.T
	ts      *topo.Server
	ks      string
	sources map[string]*tablettest.Shard
	targets map[string]*tablettest.Shard
}

const testSchema = `
CREATE TABLE customer (
  id BIGINT NOT NULL PRIMARY KEY,
  name VARCHAR(64) NOT NULL,
  balance DECIMAL(12,2),
  note VARCHAR(20) CHARACTER SET latin1,
  created DATETIME(3),
  blob_col VARBINARY(16),
  state ENUM('new','active','closed') NOT NULL DEFAULT 'new',
  flags SET('a','b','c'),
  score FLOAT,
  updated_ts TIMESTAMP NULL,
  big BIGINT UNSIGNED,
  doubled BIGINT AS (id * 2) VIRTUAL
);
CREATE TABLE tags (
  tag VARCHAR(32) NOT NULL,
  cid BIGINT NOT NULL,
  label VARCHAR(32),
  PRIMARY KEY (tag, cid)
);
CREATE TABLE ref (
  id INT NOT NULL PRIMARY KEY,
  v VARCHAR(10)
)`

func testRules() []*vreplicationpb.TableRule {
	return []*vreplicationpb.TableRule{
		{Name: "customer", VindexType: "hash", VindexColumn: "id"},
		{Name: "ref", Reference: true},
		{Name: "tags", VindexType: "hash", VindexColumn: "cid"},
	}
}

// startEnv starts the source shards (with replicas) and target shards
// (primaries only) of keyspace ks, with the test schema on every shard.
func startEnv(t *testing.T, sources, targets []string, configure func(*tablet.Config)) *env {
	t.Helper()
	addr := etcdtest.Start(t)
	ts := topo.NewServer(etcdtest.NewStoreAt(t, addr, "/mosaic"))
	e := &env{t: t, ts: ts, ks: "ks", sources: map[string]*tablettest.Shard{}, targets: map[string]*tablettest.Shard{}}
	// One CA for every shard: target tablets call their sources.
	opts := tablettest.Options{Certs: mtlstest.New(t), Configure: func(c *tablet.Config) {
		c.VRepl.CopyCycle = 300 * time.Millisecond
		c.VRepl.RowBatchBytes = 8 << 10
		c.VRepl.RetryDelay = 100 * time.Millisecond
		c.VRepl.MaxRetryDelay = time.Second
		// Large transactions go in parts and open target transactions
		// already at test sizes.
		c.VRepl.LargeTransactionBytes = 64 << 10
		c.VRepl.LargeTransactionRows = 500
		if configure != nil {
			configure(c)
		}
	}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, sh := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := tablettest.StartShardWithOptions(t, ts, e.ks, sh, 1, opts)
			mu.Lock()
			e.sources[sh] = s
			mu.Unlock()
		}()
	}
	for _, sh := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := tablettest.StartShardWithOptions(t, ts, e.ks, sh, 0, opts)
			mu.Lock()
			e.targets[sh] = s
			mu.Unlock()
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for _, s := range append(e.shardList(e.sources), e.shardList(e.targets)...) {
		for _, stmt := range strings.Split(testSchema, ";") {
			e.exec(s, stmt)
		}
	}
	return e
}

func (e *env) shardList(m map[string]*tablettest.Shard) []*tablettest.Shard {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]*tablettest.Shard, len(names))
	for i, n := range names {
		out[i] = m[n]
	}
	return out
}

func (e *env) db(s *tablettest.Shard) *sql.DB {
	e.t.Helper()
	db, err := sql.Open("mysql", fmt.Sprintf("%s:%s@tcp(127.0.0.1:%d)/%s?time_zone=%%27%%2B00%%3A00%%27", tablettest.DBAUser, tablettest.Secrets().DBAPassword.Reveal(), s.Primary().MySQLPort, s.Primary().DBName))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { db.Close() })
	return db
}

func (e *env) exec(s *tablettest.Shard, stmt string) {
	e.t.Helper()
	if strings.TrimSpace(stmt) == "" {
		return
	}
	db := e.db(s)
	if _, err := db.Exec(stmt); err != nil {
		e.t.Fatalf("%s/%s: %s: %v", s.Keyspace, s.Shard, stmt, err)
	}
}

// rows returns every row of table on s as text lines, in key order.
func (e *env) rows(s *tablettest.Shard, table string) []string {
	e.t.Helper()
	db := e.db(s)
	q := map[string]string{
		"customer": "SELECT id, name, balance, HEX(note), created, HEX(blob_col), state, flags, score, updated_ts, big, doubled FROM customer ORDER BY id",
		"tags":     "SELECT tag, cid, label FROM tags ORDER BY tag, cid",
		"ref":      "SELECT id, v FROM ref ORDER BY id",
	}[table]
	rs, err := db.Query(q)
	if err != nil {
		e.t.Fatalf("%s/%s: %v", s.Keyspace, s.Shard, err)
	}
	defer rs.Close()
	cols, _ := rs.Columns()
	var out []string
	for rs.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			e.t.Fatal(err)
		}
		var b strings.Builder
		for i, v := range vals {
			if i > 0 {
				b.WriteByte('|')
			}
			if v.Valid {
				b.WriteString(v.String)
			} else {
				b.WriteString("NULL")
			}
		}
		out = append(out, b.String())
	}
	return out
}

// keyOf returns the keyspace id of a row line by its vindex column.
func ksidOf(t *testing.T, table, line string) []byte {
	f := strings.Split(line, "|")
	var v string
	switch table {
	case "customer":
		v = f[0]
	case "tags":
		v = f[1]
	default:
		return nil
	}
	ksid, ok := vindexes.Hash{}.Map([]byte(v))
	if !ok {
		t.Fatalf("no keyspace id for %q", v)
	}
	return ksid
}

// checkCopies checks that every target holds exactly the source rows of
// its key range (and every reference row).
func (e *env) checkCopies() {
	e.t.Helper()
	for _, table := range []string{"customer", "tags", "ref"} {
		var all []string
		for _, s := range e.shardList(e.sources) {
			all = append(all, e.rows(s, table)...)
		}
		if table == "ref" {
			all = e.rows(e.shardList(e.sources)[0], table)
		}
		for _, s := range e.shardList(e.targets) {
			kr, _ := keyrange.Parse(s.Shard)
			var want []string
			for _, l := range all {
				if table == "ref" || keyrange.Contains(kr, ksidOf(e.t, table, l)) {
					want = append(want, l)
				}
			}
			sort.Strings(want)
			got := e.rows(s, table)
			sort.Strings(got)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				e.t.Errorf("table %s on target %s: %d rows, want %d\n%s", table, s.Shard, len(got), len(want), diffLines(want, got))
			}
		}
	}
}

func diffLines(want, got []string) string {
	w := map[string]bool{}
	for _, l := range want {
		w[l] = true
	}
	g := map[string]bool{}
	for _, l := range got {
		g[l] = true
	}
	var b strings.Builder
	n := 0
	for _, l := range want {
		if !g[l] && n < 10 {
			fmt.Fprintf(&b, "  missing: %s\n", l)
			n++
		}
	}
	for _, l := range got {
		if !w[l] && n < 20 {
			fmt.Fprintf(&b, "  extra:   %s\n", l)
			n++
		}
	}
	return b.String()
}

func (e *env) client(s *tablettest.Shard) vreplicationpb.VReplicationClient {
	e.t.Helper()
	return s.Primary().Dial(e.t).VR
}

func (e *env) createWorkflow(name string, sources, targets []string) {
	e.t.Helper()
	wf := &vreplicationpb.Workflow{Name: name, Type: vreplicationpb.WorkflowType_RESHARD, SourceKeyspace: e.ks, TargetKeyspace: e.ks,
		SourceShards: sources, TargetShards: targets, Tables: testRules(), State: vreplicationpb.WorkflowState_RUNNING}
	if err := e.ts.CreateWorkflow(e.t.Context(), e.ks, wf); err != nil {
		e.t.Fatal(err)
	}
}

// waitStreams polls every target's streams of workflow until ok holds
// for all of them.
func (e *env) waitStreams(workflow string, d time.Duration, ok func(*vreplicationpb.StreamStatus) bool) []*vreplicationpb.StreamStatus {
	e.t.Helper()
	deadline := time.Now().Add(d)
	var last []*vreplicationpb.StreamStatus
	var lastErr error
	for time.Now().Before(deadline) {
		last, lastErr = nil, nil
		good := true
		for _, s := range e.shardList(e.targets) {
			ctx, cancel := context.WithTimeout(e.t.Context(), 10*time.Second)
			resp, err := e.client(s).WorkflowStatus(ctx, &vreplicationpb.WorkflowStatusRequest{Workflow: workflow})
			cancel()
			if err != nil {
				lastErr, good = err, false
				continue
			}
			if len(resp.Streams) == 0 {
				good = false
			}
			for _, st := range resp.Streams {
				last = append(last, st)
				if !ok(st) {
					good = false
				}
			}
		}
		if good {
			return last
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.t.Fatalf("streams of %s did not get there in %v: %v (last error %v)", workflow, d, last, lastErr)
	return nil
}

// waitCaughtUp waits until every stream has applied its source primary's
// current position.
func (e *env) waitCaughtUp(workflow string) {
	e.t.Helper()
	for _, tgt := range e.shardList(e.targets) {
		kr, _ := keyrange.Parse(tgt.Shard)
		for name, src := range e.sources {
			skr, _ := keyrange.Parse(name)
			if !keyrange.Intersect(kr, skr) {
				continue
			}
			// The source's mysqld may be coming back from a kill.
			var pos string
			deadline := time.Now().Add(2 * time.Minute)
			for {
				err := e.db(src).QueryRow("SELECT @@gtid_binlog_pos").Scan(&pos)
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					e.t.Fatal(err)
				}
				time.Sleep(100 * time.Millisecond)
			}
			ctx, cancel := context.WithTimeout(e.t.Context(), 60*time.Second)
			_, err := e.client(tgt).WaitForStreamPosition(ctx, &vreplicationpb.WaitForStreamPositionRequest{Workflow: workflow, SourceShard: name, Position: pos})
			cancel()
			if err != nil {
				e.t.Fatalf("stream %s -> %s did not reach %s: %v", name, tgt.Shard, pos, err)
			}
		}
	}
}

// writer changes the sources' rows until stopped: inserts, updates
// (some moving a row to another key, some changing its key), deletes, in
// transactions of a few statements.
type writer struct {
	e      *env
	stop   chan struct{}
	done   chan struct{}
	writes int
	failed int
	err    error
}

func (e *env) startWriter(seed uint64, firstID int) *writer {
	w := &writer{e: e, stop: make(chan struct{}), done: make(chan struct{})}
	dbs := map[string]*sql.DB{}
	for n, s := range e.sources {
		dbs[n] = e.db(s)
	}
	go func() {
		defer close(w.done)
		r := rand.New(rand.NewPCG(seed, 1))
		next := firstID
		for {
			select {
			case <-w.stop:
				return
			default:
			}
			// Every source shard in turn; ids are spread by the hash, so any
			// id may go to any source: pick the shard the id belongs to.
			id := r.IntN(next + 1)
			var stmts []string
			switch r.IntN(6) {
			case 0, 1:
				next++
				id = next
				stmts = []string{fmt.Sprintf("INSERT INTO customer (id, name, balance, note, created, state, score, big) VALUES (%d, 'w%d', %d.25, 'n\u00e9', NOW(3), 'active', 1.5, %d)", id, id, id%1000, uint64(1)<<63+uint64(id)),
					fmt.Sprintf("INSERT INTO tags (tag, cid, label) VALUES ('T%d', %d, 'x')", id%37, id)}
			case 2, 3:
				stmts = []string{fmt.Sprintf("UPDATE customer SET name = CONCAT(name, '+'), balance = balance + 1, flags = 'a,c', updated_ts = NOW() WHERE id = %d", id),
					fmt.Sprintf("UPDATE tags SET label = 'u%d' WHERE cid = %d", r.IntN(100), id)}
			case 4:
				stmts = []string{fmt.Sprintf("DELETE FROM customer WHERE id = %d", id), fmt.Sprintf("DELETE FROM tags WHERE cid = %d", id)}
			case 5:
				// A key change: tag rows move within their customer.
				stmts = []string{fmt.Sprintf("UPDATE tags SET tag = CONCAT(tag, 'm') WHERE cid = %d AND LENGTH(tag) < 30", id),
					fmt.Sprintf("UPDATE ref SET v = '%d' WHERE id = %d", r.IntN(1000), r.IntN(50))}
			}
			src := e.sourceOf(id)
			if src == "" {
				continue
			}
			if err := w.run(dbs[src], src, stmts); err != nil {
				// A source mysqld may be down for a while (tests kill it):
				// the outcome does not matter, the check compares the
				// sources with the targets.
				w.failed++
				if w.failed > 1000 {
					w.err = err
					return
				}
				time.Sleep(50 * time.Millisecond)
				continue
			}
			w.writes++
		}
	}()
	return w
}

func (w *writer) run(db *sql.DB, src string, stmts []string) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	for _, q := range stmts {
		if strings.Contains(q, "ref") && src != w.e.shardList(w.e.sources)[0].Shard {
			// Reference rows change on the first source only.
			continue
		}
		if _, err := tx.Exec(q); err != nil {
			tx.Rollback()
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return tx.Commit()
}

func (w *writer) finish(t *testing.T) {
	t.Helper()
	close(w.stop)
	<-w.done
	if w.err != nil {
		t.Fatalf("writer: %v", w.err)
	}
	t.Logf("writer made %d transactions (%d failed)", w.writes, w.failed)
}

// sourceOf returns the source shard a customer id lives in ("" when the
// sources do not cover its keyspace id: such ids are not used).
func (e *env) sourceOf(id int) string {
	ksid, _ := vindexes.Hash{}.Map(int64(id))
	for n := range e.sources {
		kr, _ := keyrange.Parse(n)
		if keyrange.Contains(kr, ksid) {
			return n
		}
	}
	return ""
}

// load inserts n customers (ids 1..n) with their tags into the sources,
// and 50 reference rows into each.
func (e *env) load(n int) {
	e.t.Helper()
	per := map[string][]string{}
	tags := map[string][]string{}
	for id := 1; id <= n; id++ {
		s := e.sourceOf(id)
		if s == "" {
			continue
		}
		per[s] = append(per[s], fmt.Sprintf("(%d, 'name %d', %d.5, 'n%d', '2024-01-02 03:04:05.%03d', X'%02x00ff', 'new', 'b', %d.125, '2024-05-06 07:08:09', %d)", id, id, id, id%100, id%1000, id%256, id, uint64(1)<<63+uint64(id)))
		tags[s] = append(tags[s], fmt.Sprintf("('tag%d', %d, 'l')", id%97, id), fmt.Sprintf("('Tag %d', %d, NULL)", id%13, id))
	}
	for name, s := range e.sources {
		rows := per[name]
		for i := 0; i < len(rows); i += 500 {
			e.exec(s, "INSERT INTO customer (id, name, balance, note, created, blob_col, state, flags, score, updated_ts, big) VALUES "+strings.Join(rows[i:min(i+500, len(rows))], ","))
		}
		tr := tags[name]
		for i := 0; i < len(tr); i += 500 {
			e.exec(s, "INSERT INTO tags (tag, cid, label) VALUES "+strings.Join(tr[i:min(i+500, len(tr))], ","))
		}
		var refs []string
		for i := 0; i < 50; i++ {
			refs = append(refs, fmt.Sprintf("(%d, 'r%d')", i, i))
		}
		e.exec(s, "INSERT INTO ref (id, v) VALUES "+strings.Join(refs, ","))
	}
}

// TestSplitCopyAndFollow splits an unsharded keyspace's shard 0 into -80
// and 80- under continuous writes: the copy runs in short cycles (each
// catching up with the binlog first), then the streams follow the binlog;
// once writes stop and the streams have applied the source's position,
// every target holds exactly the source rows of its range.
func TestSplitCopyAndFollow(t *testing.T) {
	e := startEnv(t, []string{"0"}, []string{"-80", "80-"}, nil)
	e.load(8000)
	w := e.startWriter(1, 8000)
	e.createWorkflow("split", []string{"0"}, []string{"-80", "80-"})
	e.waitStreams("split", 3*time.Minute, func(st *vreplicationpb.StreamStatus) bool { return st.Phase == "running" })
	// One large transaction: its changes reach the targets in parts and
	// are applied in one target transaction each.
	e.exec(e.sources["0"], "UPDATE customer SET balance = balance * 2, note = 'big'")
	time.Sleep(500 * time.Millisecond) // some writes while running
	w.finish(t)
	e.waitCaughtUp("split")
	e.checkCopies()
	st := e.waitStreams("split", time.Minute, func(st *vreplicationpb.StreamStatus) bool {
		return st.Phase == "running" && st.LagSeconds >= 0 && st.LagSeconds < 5
	})
	for _, s := range st {
		if s.RowsCopied == 0 || s.TransactionsApplied == 0 || s.RowsTotal == 0 {
			t.Errorf("stream %s -> %s: copied %d of %d rows, applied %d transactions", s.SourceShard, s.TargetShard, s.RowsCopied, s.RowsTotal, s.TransactionsApplied)
		}
	}
}

// vdiff runs VDiff on every target and returns the tables' reports.
func (e *env) vdiff(workflow string) map[string]*vreplicationpb.VDiffTable {
	e.t.Helper()
	out := map[string]*vreplicationpb.VDiffTable{}
	for _, s := range e.shardList(e.targets) {
		ctx, cancel := context.WithTimeout(e.t.Context(), 2*time.Minute)
		resp, err := e.client(s).VDiff(ctx, &vreplicationpb.VDiffRequest{Workflow: workflow})
		cancel()
		if err != nil {
			e.t.Fatalf("vdiff on %s: %v", s.Shard, err)
		}
		for _, tr := range resp.Tables {
			out[s.Shard+"/"+tr.Table] = tr
		}
	}
	return out
}

func clean(reports map[string]*vreplicationpb.VDiffTable) error {
	for k, r := range reports {
		if r.Missing+r.Extra+r.Different != 0 || r.Compared == 0 {
			return fmt.Errorf("%s: %v", k, r)
		}
	}
	return nil
}

// TestVDiff: a diff taken while writes go on is clean (both sides are read
// at matching positions); a changed, a deleted and an extra target row are
// each reported with their keys.
func TestVDiff(t *testing.T) {
	e := startEnv(t, []string{"-80", "80-"}, []string{"-40", "40-"}, nil)
	e.load(2000)
	// A replica that does not replicate feeds no stream: the streams from
	// -80 go to its primary.
	rep := e.sources["-80"].Replicas()[0]
	if _, err := rep.Dial(t).TM.StopReplication(t.Context(), &tabletmanagerpb.StopReplicationRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := rep.WaitHealth(t.Context(), func(h *querypb.StreamHealthResponse) bool { return !h.RealtimeStats.ReplicationRunning }); err != nil {
		t.Fatal(err)
	}
	e.createWorkflow("split", []string{"-80", "80-"}, []string{"-40", "40-"})
	sts := e.waitStreams("split", 3*time.Minute, func(st *vreplicationpb.StreamStatus) bool { return st.Phase == "running" })
	for _, st := range sts {
		if st.SourceShard == "-80" && topo.AliasString(st.SourceTablet) != e.sources["-80"].Primary().AliasString {
			t.Errorf("stream from -80 into %s reads %s, not the primary, while the replica does not replicate", st.TargetShard, topo.AliasString(st.SourceTablet))
		}
	}
	if _, err := rep.Dial(t).TM.StartReplication(t.Context(), &tabletmanagerpb.StartReplicationRequest{}); err != nil {
		t.Fatal(err)
	}
	w := e.startWriter(2, 2000)
	reports := e.vdiff("split")
	if err := clean(reports); err != nil {
		t.Errorf("vdiff under writes: %v", err)
	}
	w.finish(t)
	e.waitCaughtUp("split")
	e.checkCopies()

	// Damage the target -40 behind the streams' back.
	tgt := e.targets["-40"]
	var ids []int
	rs, err := e.db(tgt).Query("SELECT id FROM customer ORDER BY id LIMIT 3")
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		var id int
		rs.Scan(&id)
		ids = append(ids, id)
	}
	rs.Close()
	e.exec(tgt, fmt.Sprintf("UPDATE customer SET name = 'damaged' WHERE id = %d", ids[0]))
	e.exec(tgt, fmt.Sprintf("DELETE FROM customer WHERE id = %d", ids[1]))
	e.exec(tgt, "INSERT INTO customer (id, name) VALUES (999999999, 'extra')")
	reports = e.vdiff("split")
	r := reports["-40/customer"]
	want := func(got []string, key string) bool { return len(got) == 1 && got[0] == key }
	if r.Different != 1 || r.Missing != 1 || r.Extra != 1 ||
		!want(r.SampleDifferent, fmt.Sprintf("id=%d", ids[0])) || !want(r.SampleMissing, fmt.Sprintf("id=%d", ids[1])) || !want(r.SampleExtra, "id=999999999") {
		t.Errorf("vdiff of the damaged target: %v", r)
	}
	delete(reports, "-40/customer")
	if err := clean(reports); err != nil {
		t.Errorf("vdiff of the undamaged tables: %v", err)
	}

	// What create refuses before anything changes.
	src := e.sources["-80"]
	e.exec(src, "CREATE TABLE parent (id INT PRIMARY KEY)")
	e.exec(src, "CREATE TABLE child (id INT PRIMARY KEY, pid INT, FOREIGN KEY (pid) REFERENCES parent (id) ON DELETE CASCADE)")
	e.exec(src, "CREATE TABLE timed (t TIME PRIMARY KEY)")
	e.exec(src, "CREATE TABLE nokey (a INT)")
	c, err := mysqlconn.Dial(t.Context(), src.Primary().DBAParams())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := vrepl.CheckTables(c, src.Primary().DBName, []string{"customer", "tags", "ref", "parent"}); err != nil {
		t.Errorf("CheckTables of good tables: %v", err)
	}
	for table, want := range map[string]string{"child": "ON DELETE CASCADE", "timed": "type time", "nokey": "no primary key", "missing": "does not exist"} {
		if err := vrepl.CheckTables(c, src.Primary().DBName, []string{"customer", table}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckTables(%s): %v, want an error with %q", table, err, want)
		}
	}
}

// TestResume kills the target's mysqld during the copy, restarts the
// other target's tablet during the copy, and kills the mysqld the
// streams read the binlog from while they follow it, all under writes:
// every stream resumes from its stored progress, and the copies end up
// exact (a row copied twice would fail its INSERT) with a clean vdiff.
func TestResume(t *testing.T) {
	e := startEnv(t, []string{"-80"}, []string{"-40", "40-80"}, func(c *tablet.Config) {
		c.VRepl.RowBatchBytes = 4 << 10
	})
	e.load(30000)
	w := e.startWriter(3, 30000)
	e.createWorkflow("split", []string{"-80"}, []string{"-40", "40-80"})
	copying := func(st *vreplicationpb.StreamStatus) bool {
		return st.Phase == "copying" && st.RowsCopied > 0 && st.Table == "customer"
	}

	// Both streams copy at once: both faults strike while both copy (one
	// after the other, the second copy could be over before the first
	// fault ends).
	t1, t2 := e.targets["-40"].Primary(), e.targets["40-80"].Primary()
	before := e.waitStreams("split", 3*time.Minute, copying)
	held := make(chan error, 1)
	go func() {
		release, err := t1.Agent.Mysqld().Hold(t.Context(), true)
		if err == nil {
			time.Sleep(500 * time.Millisecond)
			release()
		}
		held <- err
	}()
	t2.Restart(t)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	for _, st := range before {
		t.Logf("stream into %s had copied %d rows when the mysqld of target -40 was killed and the tablet of target 40-80 restarted", st.TargetShard, st.RowsCopied)
	}

	sts := e.waitStreams("split", 3*time.Minute, func(st *vreplicationpb.StreamStatus) bool { return st.Phase == "running" })
	src := e.sources["-80"].Tablets[0]
	for _, tb := range e.sources["-80"].Tablets {
		if tb.AliasString == topo.AliasString(sts[0].SourceTablet) {
			src = tb
		}
	}
	release, err := src.Agent.Mysqld().Hold(t.Context(), true)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	release()
	t.Logf("killed the mysqld of source tablet %s while the streams followed its binlog", src.AliasString)
	time.Sleep(time.Second)
	w.finish(t)
	e.waitCaughtUp("split")
	e.checkCopies()
	if err := clean(e.vdiff("split")); err != nil {
		t.Errorf("vdiff: %v", err)
	}
}
