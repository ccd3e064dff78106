package e2e

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/mosaicdb/mosaic/e2e/cluster"
	"github.com/mosaicdb/mosaic/keyrange"
	"github.com/mosaicdb/mosaic/router/vindexes"
)

// dumpVSchema shards both tables by hash; dump_order's sharding column is
// not its first.
const dumpVSchema = `{
  "sharded": true,
  "vindexes": {"hash": {"type": "hash"}},
  "tables": {
    "dump_kinds": {"column_vindexes": [{"column": "id", "name": "hash"}]},
    "dump_order": {"column_vindexes": [{"column": "customer_id", "name": "hash"}]}
  }
}`

// dumpTables are the tables TestDumpRestore dumps, with the query whose
// rows, in order, make its checksum and the column of its vindex.
var dumpTables = []struct{ name, rows, vindexCol string }{
	{"dump_kinds", "select id, name, note, at, amount, hex(data) from dump_kinds order by id", "id"},
	{"dump_order", "select order_id, note, customer_id, amount from dump_order order by order_id", "customer_id"},
}

// TestDumpRestore dumps sharded tables through the gate with mariadb-dump
// and restores the dump through the gate with the mariadb client: the
// dump's INSERT statements name no columns, so the gate learns them from
// the shards. Every row must come back, on the shard its vindex names.
func TestDumpRestore(t *testing.T) {
	for _, tool := range []string{"mariadb", "mariadb-dump"} {
		if _, err := lookPath(tool); err != nil {
			t.Skipf("%s not installed (make deps installs it)", tool)
		}
	}
	shards := []string{"-80", "80-"}
	c := cluster.Start(t, cluster.Options{
		Keyspaces: []cluster.Keyspace{{Name: "customer", Shards: shards, VSchema: dumpVSchema}},
	})
	db := c.DB(t, "customer")
	mustExec(t, db, `create table dump_kinds (
  id bigint not null primary key,
  name varchar(200) character set utf8mb4 not null,
  note text null,
  at datetime not null,
  amount decimal(14,4) not null,
  data blob null
)`)
	mustExec(t, db, `create table dump_order (
  order_id bigint not null primary key,
  note varchar(50) null,
  customer_id bigint not null,
  amount decimal(10,2) null,
  key (customer_id)
)`)
	names := []string{"plain", "it's", `double "quoted"`, "back\\slash", "new\nline\r\n", "tab\there", "Zoë Ærøskøbing 日本語 🎉", "", "%_ like", "semi; colon */ -- x"}
	const nKinds, nOrders = 300, 80
	for i := 1; i <= nKinds; i++ {
		id := int64(i*7919 - 300000) // negative and positive ids over both shards
		var note, data any
		if i%3 != 0 {
			note = strings.Repeat(names[i%len(names)], i%4+1)
		}
		if i%5 != 0 {
			data = []byte{0, byte(i), 0xff, '\'', '\\', '\n', 0x1a, byte(i * 31)}
		}
		mustExec(t, db, "insert into dump_kinds (id, name, note, at, amount, data) values (?, ?, ?, ?, ?, ?)",
			id, names[i%len(names)], note, time.Date(2024, 1, 1+i%28, i%24, i%60, i%60, 0, time.UTC), fmt.Sprintf("%d.%04d", i*37-2000, i*13%10000), data)
	}
	for i := 1; i <= nOrders; i++ {
		var amount any
		if i%4 != 0 {
			amount = fmt.Sprintf("%d.%02d", i, i%100)
		}
		mustExec(t, db, "insert into dump_order (order_id, note, customer_id, amount) values (?, ?, ?, ?)",
			i, names[i%len(names)], int64(i%17)*1000003, amount)
	}
	want := map[string]string{}
	for _, tb := range dumpTables {
		want[tb.name] = checksumRows(t, db, tb.rows)
	}

	// The dump as mariadb-dump makes it by default: LOCK TABLES while
	// reading, LOCK TABLES ... WRITE around each table's INSERTs (the gate
	// ignores both).
	host, port, _ := net.SplitHostPort(c.GateAddr)
	dumpFile := filepath.Join(t.TempDir(), "dump.sql")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "mariadb-dump", "--no-defaults", "-h", host, "-P", port, "-u", "root",
		"customer", "dump_kinds", "dump_order").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("mariadb-dump: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("mariadb-dump: %v", err)
	}
	if err := os.WriteFile(dumpFile, out, 0o644); err != nil {
		t.Fatal(err)
	}
	// A whole-database dump with stored programs asks for them with SHOW
	// statements, one of which (SHOW PACKAGE STATUS) the parser does not
	// know.
	whole, err := exec.CommandContext(ctx, "mariadb-dump", "--no-defaults", "-h", host, "-P", port, "-u", "root",
		"--routines", "--events", "--triggers", "--databases", "customer").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("mariadb-dump --routines --events --triggers: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("mariadb-dump --routines --events --triggers: %v", err)
	}
	if !strings.Contains(string(whole), "CREATE TABLE `dump_kinds`") {
		t.Fatalf("whole-database dump lacks dump_kinds:\n%s", whole)
	}
	for _, tb := range dumpTables {
		if !regexp.MustCompile("INSERT INTO `" + tb.name + "` VALUES\\s*\\(").Match(out) {
			t.Fatalf("the dump has no INSERT without a column list into %s:\n%.2000s", tb.name, out)
		}
	}
	for _, tb := range dumpTables {
		mustExec(t, db, "drop table "+tb.name)
	}

	// Restore as an operator would: mariadb customer < dump.sql.
	script, err := os.ReadFile(dumpFile)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := runMariadb(t, string(script), "-h", host, "-P", port, "-u", "root", "customer"); err != nil {
		t.Fatalf("restoring the dump through the gate: %v\n%s", err, out)
	}
	for _, tb := range dumpTables {
		if got := checksumRows(t, db, tb.rows); got != want[tb.name] {
			t.Errorf("%s after the restore: checksum %s, want %s", tb.name, got, want[tb.name])
		}
	}
	// Every row sits on the shard its vindex names.
	for _, tb := range dumpTables {
		total := 0
		for _, sh := range shards {
			kr, err := keyrange.Parse(sh)
			if err != nil {
				t.Fatal(err)
			}
			direct := openDirect(t, c.DirectDSN("customer", sh))
			rows, err := direct.Query("select " + tb.vindexCol + " from " + tb.name)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for rows.Next() {
				var v int64
				if err := rows.Scan(&v); err != nil {
					t.Fatal(err)
				}
				ksid, _ := vindexes.Hash{}.Map(v)
				if !keyrange.Contains(kr, ksid) {
					t.Errorf("%s row with %s = %d is on shard %s, its vindex says otherwise", tb.name, tb.vindexCol, v, sh)
				}
				n++
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			rows.Close()
			if n == 0 {
				t.Errorf("shard %s holds no row of %s", sh, tb.name)
			}
			total += n
		}
		wantN := map[string]int{"dump_kinds": nKinds, "dump_order": nOrders}[tb.name]
		if total != wantN {
			t.Errorf("%s: the shards hold %d rows, want %d", tb.name, total, wantN)
		}
	}

	t.Run("column count", func(t *testing.T) {
		_, err := db.Exec("insert into dump_order values (1000, 'x', 5)")
		var me *mysql.MySQLError
		if !errors.As(err, &me) || me.Number != 1136 || string(me.SQLState[:]) != "21S01" {
			t.Fatalf("a row of the wrong length: %v, want ERROR 1136 (21S01)", err)
		}
	})
	t.Run("DDL through the gate", func(t *testing.T) {
		mustExec(t, db, "insert into dump_order values (1001, 'before', 5, 1.00)")
		mustExec(t, db, "alter table dump_order modify note varchar(50) null after amount")
		// As many values as before the ALTER: only the refresh on DDL
		// routes by 6, not by 2.00, and puts 'after' in note.
		mustExec(t, db, "insert into dump_order values (1002, 6, 2.00, 'after')")
		var note string
		var cust int
		if err := db.QueryRow("select note, customer_id from dump_order where order_id = 1002").Scan(&note, &cust); err != nil || note != "after" || cust != 6 {
			t.Fatalf("after ALTER through the gate: note %q customer_id %d %v, want after and 6", note, cust, err)
		}
	})
	t.Run("DDL behind the gate's back", func(t *testing.T) {
		for _, sh := range shards {
			mustExec(t, openDirect(t, c.DirectDSN("customer", sh)), "alter table dump_order add column extra varchar(10) null")
		}
		// One more value than the gate knows: it learns the columns again.
		mustExec(t, db, "insert into dump_order values (1003, 11, 3.00, 'behind', 'x')")
		var extra string
		if err := db.QueryRow("select extra from dump_order where customer_id = 11 and order_id = 1003").Scan(&extra); err != nil || extra != "x" {
			t.Fatalf("after ALTER on the shards: extra %q %v", extra, err)
		}
	})
	t.Run("prepared", func(t *testing.T) {
		// TRUNCATE is DDL: the gate forgets the columns, and the prepared
		// statement learns them again.
		mustExec(t, db, "truncate table dump_order")
		stmt, err := db.Prepare("insert into dump_order values (?, ?, ?, ?, ?)")
		if err != nil {
			t.Fatal(err)
		}
		defer stmt.Close()
		for i := range 6 {
			if _, err := stmt.Exec(2000+i, i, "1.50", "p", nil); err != nil {
				t.Fatal(err)
			}
		}
		if n := count(t, db, "select count(*) from dump_order where note = 'p'"); n != 6 {
			t.Fatalf("%d rows from the prepared INSERT, want 6", n)
		}
	})
}

// checksumRows hashes the rows of query in order, NULL apart from any value.
func checksumRows(t *testing.T, db *sql.DB, query string) string {
	t.Helper()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	h := sha256.New()
	n := 0
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			if v == nil {
				h.Write([]byte{0xff})
				continue
			}
			fmt.Fprintf(h, "%d:%s", len(v), v)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d rows %x", n, h.Sum(nil)[:8])
}
