package e2e

import (
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/mosaicdb/mosaic/e2e/cluster"
)

// mysqlErr returns the MySQL error number and SQLSTATE of err.
func mysqlErr(t *testing.T, err error) (uint16, string) {
	t.Helper()
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		t.Fatalf("not a MySQL error: %v", err)
	}
	return me.Number, string(me.SQLState[:])
}

func mustExec(t *testing.T, db interface {
	Exec(string, ...any) (sql.Result, error)
}, q string, args ...any) sql.Result {
	t.Helper()
	r, err := db.Exec(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return r
}

func count(t *testing.T, db *sql.DB, q string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// TestUnshardedThroughGate is the walking skeleton's acceptance test: an
// unsharded keyspace with a primary and a replica, used through the gate
// with go-sql-driver/mysql.
func TestUnshardedThroughGate(t *testing.T) {
	c := cluster.Start(t, cluster.Options{
		Keyspaces: []cluster.Keyspace{{Name: "commerce"}},
		Replicas:  1,
	})
	db := c.DB(t, "commerce", "interpolateParams=true")

	// A bulk INSERT of literal rows (as mariadb-dump and sysbench write
	// them) goes to the unsharded keyspace as written: the same text sent
	// through the gate and straight to mysqld stores the same rows.
	t.Run("BulkInsert", func(t *testing.T) {
		direct := openDirect(t, c.DirectDSN("commerce", "0"))
		values := []string{"'plain'", `'it\'s'`, "'it''s'", `'back\\slash'`, `'new\nline\r\n'`, `"dq \"x\""`, "'Zoë 日本語 🎉'", "''", "NULL"}
		nums := []string{"0", "-1", "+2.5", "-3.25e2", "1e-3", "18446744073709551615", ".5", "0x1F", "TRUE", "FALSE", "NULL"}
		var rows []string
		for i := 1; i <= 2000; i++ {
			rows = append(rows, fmt.Sprintf("(%d, %s, %s, X'00ff%02x')", i, values[i%len(values)], nums[i%len(nums)], i%256))
		}
		for _, tb := range []string{"bulk_gate", "bulk_direct"} {
			mustExec(t, db, "create table "+tb+" (id int primary key, s varchar(64), n double, b varbinary(8))")
		}
		body := " (id, s, n, b) VALUES " + strings.Join(rows, ", ") + ";"
		r := mustExec(t, db, "INSERT INTO bulk_gate"+body)
		if n, _ := r.RowsAffected(); n != 2000 {
			t.Fatalf("inserted %d rows through the gate", n)
		}
		mustExec(t, direct, "INSERT INTO bulk_direct"+body)
		const q = "select concat_ws(' ', count(*), sum(crc32(concat_ws('|', id, s, n, hex(b)))), sum(s is null), sum(n is null)) from "
		var gate, want string
		if err := direct.QueryRow(q + "bulk_gate").Scan(&gate); err != nil {
			t.Fatal(err)
		}
		if err := direct.QueryRow(q + "bulk_direct").Scan(&want); err != nil {
			t.Fatal(err)
		}
		if gate != want {
			t.Fatalf("rows through the gate %s, straight %s", gate, want)
		}
	})

	t.Run("CRUD", func(t *testing.T) {
		mustExec(t, db, "create table product (id bigint primary key, name varchar(64), price decimal(10,2))")
		r := mustExec(t, db, "insert into product values (1, 'apple', 1.50), (2, 'pear', 2.25), (3, 'plum', 0.75)")
		if n, _ := r.RowsAffected(); n != 3 {
			t.Fatalf("inserted %d rows", n)
		}
		var name string
		var price string
		if err := db.QueryRow("select name, price from product where id = ?", 2).Scan(&name, &price); err != nil || name != "pear" || price != "2.25" {
			t.Fatalf("select = %q %q %v", name, price, err)
		}
		r = mustExec(t, db, "update product set price = price + 1 where id >= ?", 2)
		if n, _ := r.RowsAffected(); n != 2 {
			t.Fatalf("updated %d rows", n)
		}
		mustExec(t, db, "delete from product where id = 1")
		if n := count(t, db, "select count(*) from product"); n != 2 {
			t.Fatalf("count after delete = %d", n)
		}
		rows, err := db.Query("select id, name from product order by id")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			var id int
			var n string
			if err := rows.Scan(&id, &n); err != nil {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprintf("%d:%s", id, n))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if strings.Join(got, ",") != "2:pear,3:plum" {
			t.Fatalf("rows = %v", got)
		}
	})

	t.Run("AutoIncrementInsertID", func(t *testing.T) {
		mustExec(t, db, "create table item (id bigint auto_increment primary key, v int)")
		r := mustExec(t, db, "insert into item (v) values (10)")
		id, err := r.LastInsertId()
		if err != nil || id != 1 {
			t.Fatalf("last insert id = %d %v", id, err)
		}
		r = mustExec(t, db, "insert into item (v) values (11)")
		if id, _ := r.LastInsertId(); id != 2 {
			t.Fatalf("second last insert id = %d", id)
		}
	})

	t.Run("Transactions", func(t *testing.T) {
		mustExec(t, db, "create table account (id int primary key, balance int)")
		mustExec(t, db, "insert into account values (1, 100), (2, 100)")
		tx, err := db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		mustExec(t, tx, "update account set balance = balance - 30 where id = 1")
		mustExec(t, tx, "update account set balance = balance + 30 where id = 2")
		// Inside the transaction its own writes are visible.
		var b int
		if err := tx.QueryRow("select balance from account where id = 1").Scan(&b); err != nil || b != 70 {
			t.Fatalf("balance in tx = %d %v", b, err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if n := count(t, db, "select balance from account where id = 2"); n != 130 {
			t.Fatalf("balance after commit = %d", n)
		}

		tx, err = db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		mustExec(t, tx, "update account set balance = 0 where id = 1")
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		if n := count(t, db, "select balance from account where id = 1"); n != 70 {
			t.Fatalf("balance after rollback = %d", n)
		}

		// autocommit off: statements join one transaction until COMMIT.
		conn, err := db.Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx := t.Context()
		for _, q := range []string{"set autocommit = 0", "update account set balance = 1 where id = 1", "rollback", "update account set balance = 2 where id = 2", "commit", "set autocommit = 1"} {
			if _, err := conn.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		if n := count(t, db, "select balance from account where id = 1"); n != 70 {
			t.Fatalf("rolled back autocommit=0 write is visible: %d", n)
		}
		if n := count(t, db, "select balance from account where id = 2"); n != 2 {
			t.Fatalf("committed autocommit=0 write missing: %d", n)
		}
	})

	t.Run("DuplicateKeyKeepsNumber", func(t *testing.T) {
		mustExec(t, db, "create table uniq (id int primary key)")
		mustExec(t, db, "insert into uniq values (1)")
		_, err := db.Exec("insert into uniq values (1)")
		if num, state := mysqlErr(t, err); num != 1062 || state != "23000" {
			t.Fatalf("duplicate key gave %d %s: %v", num, state, err)
		}
		_, err = db.Exec("select * from no_such_table")
		if num, state := mysqlErr(t, err); num != 1146 || state != "42S02" {
			t.Fatalf("missing table gave %d %s: %v", num, state, err)
		}
	})

	t.Run("UnknownKeyspace", func(t *testing.T) {
		conn, err := db.Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_, err = conn.ExecContext(t.Context(), "use nosuch")
		if num, _ := mysqlErr(t, err); num != 1049 {
			t.Fatalf("use unknown keyspace gave %v", err)
		}
		// The same through the DSN's database at connect time.
		bad, err := sql.Open("mysql", c.DSN("nosuch"))
		if err != nil {
			t.Fatal(err)
		}
		defer bad.Close()
		if num, _ := mysqlErr(t, bad.Ping()); num != 1049 {
			t.Fatalf("connect to unknown keyspace gave %v", err)
		}
	})

	t.Run("ShowDatabasesAndVersion", func(t *testing.T) {
		// information_schema, as mysqld lists it, then the keyspaces.
		if got := queryRows(t, db, "show databases"); !slices.Equal(got, []string{"information_schema", "commerce"}) {
			t.Fatalf("show databases = %q", got)
		}
		// LIKE (case-sensitive, as mysqld's database names on Linux) and
		// the WHERE forms tools send.
		for q, want := range map[string][]string{
			"show databases like 'comm%'":                                 {"commerce"},
			"show schemas like 'COMMERCE'":                                nil,
			"show databases where `Database` = 'commerce'":                {"commerce"},
			"show databases where `Database` not like 'c%'":               {"information_schema"},
			"show databases where `Database` in ('x', 'commerce') or 1=0": nil,
		} {
			rows, err := db.Query(q)
			if want == nil && strings.Contains(q, "1=0") {
				// An operand the gate does not evaluate: refused, not guessed.
				if num, _ := mysqlErr(t, err); num != 1235 {
					t.Fatalf("%s: %v, want error 1235", q, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			rows.Close()
			if got := queryRows(t, db, q); !slices.Equal(got, want) {
				t.Fatalf("%s = %q, want %q", q, got, want)
			}
		}
		rows, err := db.Query("show databases like 'comm%'")
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		rows.Close()
		if !slices.Equal(cols, []string{"Database (comm%)"}) {
			t.Fatalf("show databases like: columns %q", cols)
		}
		var v string
		if err := db.QueryRow("select @@version").Scan(&v); err != nil || !strings.Contains(v, "MariaDB") {
			t.Fatalf("@@version = %q %v", v, err)
		}
		if n := count(t, db, "select 1"); n != 1 {
			t.Fatalf("select 1 = %d", n)
		}
	})

	t.Run("StreamLargeResult", func(t *testing.T) {
		mustExec(t, db, "create table big (id int primary key, pad varchar(40))")
		// 100k rows, inserted in batches of 5000.
		for b := 0; b < 20; b++ {
			var sb strings.Builder
			sb.WriteString("insert into big values ")
			for i := 0; i < 5000; i++ {
				if i > 0 {
					sb.WriteByte(',')
				}
				fmt.Fprintf(&sb, "(%d, 'row %d padding padding')", b*5000+i, b*5000+i)
			}
			mustExec(t, db, sb.String())
		}
		rows, err := db.Query("select id, pad from big")
		if err != nil {
			t.Fatal(err)
		}
		n, sum := 0, 0
		for rows.Next() {
			var id int
			var pad string
			if err := rows.Scan(&id, &pad); err != nil {
				t.Fatal(err)
			}
			n++
			sum += id
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if n != 100000 || sum != 100000*99999/2 {
			t.Fatalf("streamed %d rows, id sum %d", n, sum)
		}
	})
}
