package e2e

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/go-sql-driver/mysql"
	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
	_ "github.com/pingcap/tidb/pkg/parser/test_driver"
	"golang.org/x/text/unicode/norm"

	"github.com/mosaicdb/mosaic/e2e/cluster"
)

// TestDifferential loads the same schema and data into the sharded
// customer keyspace (plus the unsharded commerce keyspace) of a cluster
// and into one plain MariaDB, then runs every statement of
// testdata/differential.sql on both and compares: column names, rows (in
// order when the statement orders, as multisets otherwise), rows affected
// and insert ids of writes, and error numbers. It then checks that every
// statement of testdata/refused.sql fails through the gate with 1235. It
// runs on 2 and on 4 shards.
func TestDifferential(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two clusters")
	}
	corpus := readCorpus(t, "testdata/differential.sql")
	refused := readCorpus(t, "testdata/refused.sql")
	data := makeDiffData()
	for _, shards := range [][]string{{"-80", "80-"}, {"-40", "40-80", "80-c0", "c0-"}} {
		t.Run(fmt.Sprintf("shards=%d", len(shards)), func(t *testing.T) {
			start := time.Now()
			gate, plain := startDiffEnv(t, shards, data)
			t.Logf("cluster and plain server loaded in %v", time.Since(start).Round(time.Millisecond))
			start = time.Now()
			for _, e := range corpus {
				t.Run(e.name(), func(t *testing.T) { e.compare(t, gate, plain) })
			}
			for _, e := range refused {
				t.Run("refused/"+e.name(), func(t *testing.T) { e.expectRefused(t, gate) })
			}
			t.Run("explain", func(t *testing.T) { checkExplain(t, gate, len(shards)) })
			t.Logf("%d statements compared, %d refusals checked in %v", len(corpus), len(refused), time.Since(start).Round(time.Millisecond))
		})
	}
}

// startDiffEnv starts a cluster with the given customer shards and a
// plain MariaDB, loads both, and returns a connection to each, on the
// customer database.
func startDiffEnv(t *testing.T, shards []string, data diffData) (gate, plain *sql.Conn) {
	type plainRes struct {
		p   *cluster.Plain
		err error
	}
	pc := make(chan plainRes, 1)
	go func() {
		p, err := cluster.StartPlain(t)
		pc <- plainRes{p, err}
	}()
	c := cluster.Start(t, cluster.Options{Keyspaces: []cluster.Keyspace{
		{Name: "commerce", VSchema: diffCommerceVSchema},
		{Name: "customer", Shards: shards, VSchema: diffCustomerVSchema},
	}})
	pr := <-pc
	if pr.err != nil {
		t.Fatal(pr.err)
	}
	ctx := t.Context()
	plainDB := openDirect(t, pr.p.DSN(""))
	for _, q := range []string{"create database customer", "create database commerce"} {
		mustExec(t, plainDB, q)
	}
	loadDB := func(db *sql.DB, ddl, rows []string) {
		t.Helper()
		for _, q := range ddl {
			mustExec(t, db, q)
		}
		for _, q := range rows {
			mustExec(t, db, q)
		}
	}
	seq := []string{
		"create table corder_seq (id int, next_id bigint, cache bigint, primary key (id)) comment 'vitess_sequence'",
		fmt.Sprintf("insert into corder_seq (id, next_id, cache) values (0, %d, 100)", data.nextOrderID),
	}
	loadDB(c.DB(t, "commerce"), append(append([]string{}, diffCommerceDDL...), seq...), data.commerce)
	loadDB(openDirect(t, pr.p.DSN("commerce")), diffCommerceDDL, data.commerce)
	loadDB(c.DB(t, "customer"), diffCustomerDDL, data.customer)
	loadDB(openDirect(t, pr.p.DSN("customer")), diffCustomerDDL, data.customer)
	mustExec(t, openDirect(t, pr.p.DSN("customer")), fmt.Sprintf("alter table corder auto_increment = %d", data.nextOrderID))

	conn := func(db *sql.DB) *sql.Conn {
		t.Helper()
		cn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cn.Close() })
		return cn
	}
	return conn(c.DB(t, "customer")), conn(openDirect(t, pr.p.DSN("customer")))
}

// corpusEntry is one statement of a corpus file with its directives.
type corpusEntry struct {
	line int
	sql  string
	// ordered: compare rows in order (default: when the statement's
	// outermost query has ORDER BY).
	ordered bool
	// ci lists columns compared case- and accent-insensitively: values
	// the collation deems equal, of which the server may show any.
	ci []int
	// skip says why the statement is not compared yet.
	skip string
}

func (e *corpusEntry) name() string {
	words := strings.Fields(e.sql)
	w := strings.Join(words[:min(4, len(words))], "_")
	return fmt.Sprintf("L%03d_%s", e.line, w)
}

// readCorpus parses a corpus file: statements end with ';' at the end of
// a line; '--' lines are comments, except the directives '-- ordered',
// '-- unordered', '-- ci: 0,2' and '-- skip: why' which apply to the next
// statement.
func readCorpus(t *testing.T, path string) []*corpusEntry {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []*corpusEntry
	var cur *corpusEntry
	var orderSet, orderVal bool
	var ci []int
	var skip string
	var buf []string
	p := parser.New()
	for i, line := range strings.Split(string(raw), "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "" && len(buf) == 0:
			continue
		case strings.HasPrefix(trimmed, "--") && len(buf) == 0:
			d := strings.TrimSpace(strings.TrimPrefix(trimmed, "--"))
			switch {
			case d == "ordered":
				orderSet, orderVal = true, true
			case d == "unordered":
				orderSet, orderVal = true, false
			case strings.HasPrefix(d, "skip:"):
				skip = strings.TrimSpace(strings.TrimPrefix(d, "skip:"))
			case strings.HasPrefix(d, "ci:"):
				for _, f := range strings.Split(strings.TrimPrefix(d, "ci:"), ",") {
					n, err := strconv.Atoi(strings.TrimSpace(f))
					if err != nil {
						t.Fatalf("%s:%d: bad ci directive", path, i+1)
					}
					ci = append(ci, n)
				}
			}
			continue
		}
		if len(buf) == 0 {
			cur = &corpusEntry{line: i + 1}
		}
		buf = append(buf, line)
		if !strings.HasSuffix(trimmed, ";") {
			continue
		}
		cur.sql = strings.TrimSuffix(strings.TrimSpace(strings.Join(buf, "\n")), ";")
		buf = nil
		if orderSet {
			cur.ordered = orderVal
		} else {
			stmt, err := p.ParseOneStmt(cur.sql, "", "")
			if err != nil {
				t.Fatalf("%s:%d: %v", path, cur.line, err)
			}
			switch s := stmt.(type) {
			case *ast.SelectStmt:
				cur.ordered = s.OrderBy != nil
			case *ast.SetOprStmt:
				cur.ordered = s.OrderBy != nil
			}
		}
		cur.ci, cur.skip = ci, skip
		out = append(out, cur)
		orderSet, ci, skip = false, nil, ""
	}
	if len(buf) > 0 {
		t.Fatalf("%s: statement without ';' at the end", path)
	}
	return out
}

func isWrite(q string) bool {
	f := strings.Fields(q)
	if len(f) == 0 {
		return false
	}
	switch strings.ToLower(f[0]) {
	case "insert", "update", "delete", "replace":
		return true
	}
	return false
}

// outcome is what one statement gave.
type outcome struct {
	errNum       uint16
	err          error
	cols         []string
	rows         [][]*string
	affected, id int64
}

func run(ctx context.Context, cn *sql.Conn, q string) outcome {
	var o outcome
	fail := func(err error) outcome {
		o.err = err
		var me *mysql.MySQLError
		if errors.As(err, &me) {
			o.errNum = me.Number
		}
		return o
	}
	if isWrite(q) {
		res, err := cn.ExecContext(ctx, q)
		if err != nil {
			return fail(err)
		}
		o.affected, _ = res.RowsAffected()
		o.id, _ = res.LastInsertId()
		return o
	}
	rows, err := cn.QueryContext(ctx, q)
	if err != nil {
		return fail(err)
	}
	defer rows.Close()
	if o.cols, err = rows.Columns(); err != nil {
		return fail(err)
	}
	for rows.Next() {
		cells := make([]sql.RawBytes, len(o.cols))
		ptrs := make([]any, len(cells))
		for i := range cells {
			ptrs[i] = &cells[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return fail(err)
		}
		row := make([]*string, len(cells))
		for i, c := range cells {
			if c != nil {
				s := string(c)
				row[i] = &s
			}
		}
		o.rows = append(o.rows, row)
	}
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	return o
}

// fold maps a value to what equals it under a case- and
// accent-insensitive collation with trailing spaces ignored.
func fold(s string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		if unicode.Is(unicode.Mn, r) {
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	out := strings.TrimRight(b.String(), " ")
	return strings.NewReplacer("ß", "s", "æ", "ae", "ø", "o", "ł", "l", "ð", "d", "þ", "th").Replace(out)
}

func (e *corpusEntry) render(rows [][]*string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		cells := make([]string, len(r))
		for j, c := range r {
			switch {
			case c == nil:
				cells[j] = "NULL"
			case slices.Contains(e.ci, j):
				cells[j] = strconv.Quote(fold(*c))
			default:
				cells[j] = strconv.Quote(*c)
			}
		}
		out[i] = strings.Join(cells, " | ")
	}
	return out
}

func (e *corpusEntry) compare(t *testing.T, gate, plain *sql.Conn) {
	if e.skip != "" {
		t.Skip(e.skip)
	}
	ctx := t.Context()
	want := run(ctx, plain, e.sql)
	got := run(ctx, gate, e.sql)
	if got.errNum == 1235 {
		t.Fatalf("refused by the gate: %v\n%s", got.err, e.sql)
	}
	if want.err != nil || got.err != nil {
		if want.errNum == 0 || got.errNum != want.errNum {
			t.Fatalf("errors differ:\nplain: %v\ngate:  %v\n%s", want.err, got.err, e.sql)
		}
		return
	}
	if got.affected != want.affected || got.id != want.id {
		t.Errorf("rows affected / insert id: plain %d/%d, gate %d/%d\n%s", want.affected, want.id, got.affected, got.id, e.sql)
	}
	if !slices.Equal(got.cols, want.cols) {
		t.Errorf("columns differ:\nplain: %q\ngate:  %q\n%s", want.cols, got.cols, e.sql)
	}
	w, g := e.render(want.rows), e.render(got.rows)
	if !e.ordered {
		slices.Sort(w)
		slices.Sort(g)
	}
	if slices.Equal(w, g) {
		return
	}
	var diff strings.Builder
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < 8; i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			fmt.Fprintf(&diff, "  row %d:\n    plain: %s\n    gate:  %s\n", i, a, b)
			shown++
		}
	}
	how := "as multisets"
	if e.ordered {
		how = "in order"
	}
	t.Errorf("rows differ (%s; plain %d rows, gate %d rows):\n%s%s", how, len(w), len(g), diff.String(), e.sql)
}

func (e *corpusEntry) expectRefused(t *testing.T, gate *sql.Conn) {
	got := run(t.Context(), gate, e.sql)
	if got.err == nil {
		t.Fatalf("the gate ran it (%d rows, %d affected); expected ERROR 1235\n%s", len(got.rows), got.affected, e.sql)
	}
	var me *mysql.MySQLError
	if !errors.As(got.err, &me) || me.Number != 1235 || string(me.SQLState[:]) != "42000" {
		t.Fatalf("want ERROR 1235 (42000), got %v\n%s", got.err, e.sql)
	}
}

// checkExplain runs the EXPLAIN forms a user types through the gate.
func checkExplain(t *testing.T, gate *sql.Conn, shards int) {
	ctx := t.Context()
	for _, c := range []struct {
		q string
		// want is a substring of the plan rows; nshards the number of
		// "customer/" shard queries they name (0: not checked).
		want    string
		nshards int
	}{
		{"EXPLAIN FORMAT=mosaic select * from customer where customer_id = 17", "EqualUnique", 1},
		{"explain format=mosaic select name from customer order by name", "WEIGHT_STRING", shards},
		{"explain format='mosaic' select count(*) from corder", "Aggregate", shards},
		{"VEXPLAIN select c.name, p.title from customer c join commerce.product p on p.product_id = c.tier", "Join", 0},
		{"vexplain plan insert into corder (customer_id, product_id, qty, amount, status, ordered_at) values (1, 1, 1, 1, 'x', now())", "commerce.corder_seq", 0},
	} {
		got := run(ctx, gate, c.q)
		if got.err != nil {
			t.Errorf("%s: %v", c.q, got.err)
			continue
		}
		var all strings.Builder
		for _, r := range got.rows {
			for _, cell := range r {
				if cell != nil {
					all.WriteString(*cell + "\n")
				}
			}
		}
		if !strings.Contains(all.String(), c.want) {
			t.Errorf("%s: plan lacks %q:\n%s", c.q, c.want, all.String())
		}
		if n := strings.Count(all.String(), "customer/"); c.nshards > 0 && n != c.nshards {
			t.Errorf("%s: %d shard queries, want %d:\n%s", c.q, n, c.nshards, all.String())
		}
	}
	// A plain EXPLAIN of a one-shard statement is MariaDB's own.
	got := run(ctx, gate, "explain select * from customer where customer_id = 17")
	if got.err != nil || len(got.cols) < 3 || got.cols[1] != "select_type" {
		t.Errorf("plain EXPLAIN: %v %q", got.err, got.cols)
	}
}
