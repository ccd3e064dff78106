package e2e

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/mosaicdb/mosaic/e2e/cluster"
	"github.com/mosaicdb/mosaic/tablet"
	"github.com/mosaicdb/mosaic/tablet/tablettest"
)

const connStateCustomerVSchema = `{
  "sharded": true,
  "vindexes": {"hash": {"type": "hash"}},
  "tables": {
    "cs_probe": {"column_vindexes": [{"column": "id", "name": "hash"}]},
    "cs_other": {"column_vindexes": [{"column": "id", "name": "hash"}]}
  }
}`

// connStatePoolSize is the tablets' query pool: small, so that the
// queries after a stateful statement surely use every pooled connection.
const connStatePoolSize = 4

// TestConnectionState: no statement from one session leaves state on a
// pooled tablet connection that another session's queries then meet.
// LOCK TABLES and UNLOCK TABLES are ignored with a note; user-level lock
// functions mixed with tables, temporary tables, SQL PREPARE and global read locks are refused
// with 1235; the tablets reset a connection after any such statement. A
// mariadb-dump of an unsharded keyspace restores through the gate with
// the mariadb client.
func TestConnectionState(t *testing.T) {
	c := cluster.Start(t, cluster.Options{
		Keyspaces: []cluster.Keyspace{
			{Name: "commerce"},
			{Name: "restored"},
			{Name: "customer", Shards: []string{"-80", "80-"}, VSchema: connStateCustomerVSchema},
		},
		Tablets: tablettest.Options{Configure: func(cfg *tablet.Config) { cfg.Query.PoolSize = connStatePoolSize }},
	})
	for _, ks := range []string{"commerce", "customer"} {
		t.Run(ks, func(t *testing.T) { testConnState(t, c, ks) })
	}
	t.Run("DumpRestore", func(t *testing.T) { testDumpRestore(t, c) })
}

func testConnState(t *testing.T, c *cluster.Cluster, ks string) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	db := c.DB(t, ks)
	for _, q := range []string{
		"CREATE TABLE cs_probe (id BIGINT PRIMARY KEY, v INT)",
		"CREATE TABLE cs_other (id BIGINT PRIMARY KEY, v INT)",
		"INSERT INTO cs_probe (id, v) VALUES (1, 1), (2, 2), (3, 3), (4, 4)",
		"INSERT INTO cs_other (id, v) VALUES (1, 1), (2, 2), (3, 3), (4, 4)",
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	showWarnings := func() string {
		t.Helper()
		rows, err := conn.QueryContext(ctx, "SHOW WARNINGS")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var level, msg string
			var code int
			if err := rows.Scan(&level, &code, &msg); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%s %d %s", level, code, msg))
		}
		return strings.Join(out, "; ")
	}
	for _, q := range []string{"LOCK TABLES cs_probe WRITE", "LOCK TABLE cs_probe READ", "UNLOCK TABLES", "lock tables cs_probe write, cs_other read"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		verb := "LOCK"
		if strings.HasPrefix(q, "UNLOCK") {
			verb = "UNLOCK"
		}
		if got, want := showWarnings(), "Note 1235 "+verb+" TABLES is ignored by Mosaic"; got != want {
			t.Errorf("after %s, SHOW WARNINGS = %q, want %q", q, got, want)
		}
	}
	for _, q := range []string{
		// Lock functions alone run on the session's lock session
		// (userlocks_test.go); with a table or an assignment, refused.
		"SELECT GET_LOCK('mosaic_cs', 0) FROM cs_probe",
		"SET @x = GET_LOCK('mosaic_cs', 0)",
		"DO GET_LOCK('mosaic_cs', 0), (SELECT COUNT(*) FROM cs_probe)",
		"CREATE TEMPORARY TABLE cs_tmp (id INT)",
		"PREPARE cs_stmt FROM 'SELECT 1'",
		"EXECUTE cs_stmt",
		"DEALLOCATE PREPARE cs_stmt",
		"FLUSH TABLES WITH READ LOCK",
		"HANDLER cs_probe OPEN",
		"BACKUP STAGE START",
	} {
		_, err := conn.ExecContext(ctx, q)
		var me *mysql.MySQLError
		if !errors.As(err, &me) || me.Number != 1235 {
			t.Errorf("%s: %v, want error 1235", q, err)
		}
	}
	// The connection the session kept still works inside its transaction
	// too, and the table lock statements are ignored there as well.
	for _, q := range []string{"BEGIN", "LOCK TABLES cs_probe WRITE", "UPDATE cs_probe SET v = v + 1 WHERE id = 1", "UNLOCK TABLES", "COMMIT"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	// Other sessions, enough at once to take every pooled connection of
	// every tablet, read and write both tables.
	others := c.DB(t, ks)
	others.SetMaxOpenConns(3 * connStatePoolSize)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 3*connStatePoolSize; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, q := range []string{
				"SELECT COUNT(*) FROM cs_other",
				"SELECT COUNT(*) FROM cs_probe",
				"SELECT * FROM cs_tmp",
				"UPDATE cs_other SET v = v + 1 WHERE id = 2",
			} {
				_, err := others.ExecContext(ctx, q)
				if q == "SELECT * FROM cs_tmp" {
					var me *mysql.MySQLError
					if !errors.As(err, &me) || me.Number != 1146 {
						errs <- fmt.Errorf("%s: %v, want 1146", q, err)
					}
					continue
				}
				if err != nil {
					errs <- fmt.Errorf("%s: %w", q, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Straight on each mysqld: no user lock held, no table locked.
	for _, sh := range keyspaceShards(c, ks) {
		direct := openDirect(t, c.DirectDSN(ks, sh))
		var holder sql.NullInt64
		if err := direct.QueryRowContext(ctx, "SELECT IS_USED_LOCK('mosaic_cs')").Scan(&holder); err != nil || holder.Valid {
			t.Errorf("shard %s: user lock held by connection %v (%v)", sh, holder, err)
		}
		if _, err := direct.ExecContext(ctx, "SET STATEMENT lock_wait_timeout = 10 FOR UPDATE cs_probe SET v = v + 1"); err != nil {
			t.Errorf("shard %s: write straight on mysqld: %v", sh, err)
		}
	}
}

func keyspaceShards(c *cluster.Cluster, ks string) []string {
	var out []string
	for sh := range c.Shards[ks] {
		out = append(out, sh)
	}
	return out
}

// testDumpRestore restores a mariadb-dump of the unsharded keyspace
// commerce into the keyspace restored through the gate with the mariadb
// client, and compares the data.
func testDumpRestore(t *testing.T, c *cluster.Cluster) {
	for _, tool := range []string{"mariadb", "mariadb-dump"} {
		if _, err := lookPath(tool); err != nil {
			t.Skipf("%s not installed (make deps installs it)", tool)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	src := c.DB(t, "commerce")
	for _, q := range []string{
		"CREATE TABLE dump_items (id BIGINT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(64) NOT NULL, price DECIMAL(10,2), note TEXT, made DATETIME(6), data BLOB, KEY (name))",
		"INSERT INTO dump_items (name, price, note, made, data) VALUES ('a', 1.50, NULL, '2026-01-02 03:04:05.123456', x'00ff10'), ('b''s', NULL, 'line\\nbreak', NULL, NULL), ('ü', 99999999.99, '\\\\ back', '1999-12-31 23:59:59', '')",
		"CREATE TABLE dump_empty (id INT PRIMARY KEY)",
	} {
		if _, err := src.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for i := 0; i < 300; i++ {
		if _, err := src.ExecContext(ctx, "INSERT INTO dump_items (name, price) VALUES (?, ?)", fmt.Sprintf("item %d", i), i); err != nil {
			t.Fatal(err)
		}
	}
	p := c.Shards["commerce"]["0"].Primary()
	dumpCtx, dumpCancel := context.WithTimeout(ctx, 60*time.Second)
	defer dumpCancel()
	dump, err := exec.CommandContext(dumpCtx, "mariadb-dump", "--no-defaults", "-h127.0.0.1", "-P"+strconv.Itoa(p.MySQLPort), "-u"+cluster.DirectUser, "-p"+cluster.DirectPassword,
		"--extended-insert", "--net-buffer-length=4096", "--hex-blob", p.DBName, "dump_items", "dump_empty").Output()
	if err != nil {
		t.Fatalf("mariadb-dump: %v", err)
	}
	if !strings.Contains(string(dump), "LOCK TABLES `dump_items` WRITE") {
		t.Fatalf("the dump has no LOCK TABLES:\n%.2000s", dump)
	}
	host, port, _ := net.SplitHostPort(c.GateAddr)
	out, err := runMariadb(t, string(dump), "-h", host, "-P", port, "-u", "root", "restored")
	if err != nil {
		t.Fatalf("restore through the gate: %v\n%s", err, out)
	}
	dst := c.DB(t, "restored")
	for _, table := range []string{"dump_items", "dump_empty"} {
		want := tableRows(t, ctx, src, table)
		if got := tableRows(t, ctx, dst, table); got != want {
			t.Errorf("%s restored:\n%.1000s\nwant:\n%.1000s", table, got, want)
		}
	}
	// The cluster keeps serving other sessions on both keyspaces.
	for _, ks := range []string{"commerce", "restored"} {
		db := c.DB(t, ks)
		db.SetMaxOpenConns(3 * connStatePoolSize)
		var wg sync.WaitGroup
		errs := make(chan error, 3*connStatePoolSize)
		for i := 0; i < 3*connStatePoolSize; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var n int
				if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM dump_items").Scan(&n); err != nil || n != 303 {
					errs <- fmt.Errorf("%s: count %d: %v", ks, n, err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}
}

// tableRows returns a table's rows, ordered by its first column, as text.
func tableRows(t *testing.T, ctx context.Context, db *sql.DB, table string) string {
	t.Helper()
	rows, err := db.QueryContext(ctx, "SELECT * FROM "+table+" ORDER BY 1")
	if err != nil {
		t.Fatalf("%s: %v", table, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var b strings.Builder
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			if i > 0 {
				b.WriteByte('|')
			}
			if v == nil {
				b.WriteString("NULL")
			} else {
				fmt.Fprintf(&b, "%q", v)
			}
		}
		b.WriteByte('\n')
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
