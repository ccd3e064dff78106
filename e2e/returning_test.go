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

// testReturning runs MariaDB's INSERT, REPLACE and DELETE ... RETURNING on
// the sharded keyspace (table rt, sharded by id, ids from a sequence) and
// the same statements on a plain mysqld (the commerce shard's, straight,
// with AUTO_INCREMENT from the same first id), and compares the rows, in
// order for INSERT and REPLACE.
func testReturning(t *testing.T, c *cluster.Cluster) {
	ctx := t.Context()
	commerce := openDirect(t, c.DirectDSN("commerce", "0"))
	mustExec(t, commerce, "create table rt_seq (id int, next_id bigint, cache bigint, primary key(id)) comment 'vitess_sequence'")
	mustExec(t, commerce, "insert into rt_seq values (0, 1000, 100)")
	// The reference: a plain table on a mysqld the gate does not route to
	// (the commerce keyspace's VSchema does not list it).
	mustExec(t, commerce, "create table rt (id bigint auto_increment primary key, name varchar(20), n int) auto_increment = 1000")
	mustExec(t, c.DB(t, "customer"), "create table rt (id bigint primary key, name varchar(20), n int)")
	conn := func(db *sql.DB) *sql.Conn {
		cn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cn.Close() })
		return cn
	}
	// Without interpolateParams, statements with arguments are prepared
	// on the server and their rows come back in the binary protocol.
	gate, plain := conn(c.DB(t, "customer")), conn(commerce)

	same := func(t *testing.T, ordered bool, q string, args ...any) []string {
		t.Helper()
		g, p := queryRows(t, gate, q, args...), queryRows(t, plain, q, args...)
		if !ordered {
			slices.Sort(g)
			slices.Sort(p)
		}
		if !slices.Equal(g, p) {
			t.Fatalf("%s\ngate:  %q\nplain: %q", q, g, p)
		}
		return g
	}
	// InnoDB reserves an id for every row of a multi-row INSERT that mixes
	// given ids and generated ones, and the spare ones are lost; the
	// sequence hands out only what it uses (and never hands out an id
	// again). Before the next generated id the reference's counter is set
	// to the sequence's next id.
	resync := func(next int) { mustExec(t, commerce, fmt.Sprintf("alter table rt auto_increment = %d", next)) }
	shardOf := func(id string) string {
		for _, sh := range []string{"-80", "80-"} {
			var n int
			if err := openDirect(t, c.DirectDSN("customer", sh)).QueryRow("select count(*) from rt where id = ?", id).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n == 1 {
				return sh
			}
		}
		return "none"
	}

	t.Run("insert interleaved over both shards", func(t *testing.T) {
		rows := same(t, true, "insert into rt (id, name, n) values (null, 'a', 1), (5, 'b', 2), (null, 'c', 3), (6, 'd', 4), (7, 'e', 5), (null, 'f', 6) "+
			"returning id, name, n * 10 as n10, concat(name, '-', id) as tag")
		if len(rows) != 6 || !strings.HasPrefix(rows[0], "1000|a|10|a-1000") {
			t.Fatalf("rows %q", rows)
		}
		// The rows alternate between the shards: the gate put them back
		// in the statement's order.
		var shards []string
		changes := 0
		for i, r := range rows {
			shards = append(shards, shardOf(strings.Split(r, "|")[0]))
			if i > 0 && shards[i] != shards[i-1] {
				changes++
			}
		}
		if changes < 2 {
			t.Fatalf("rows on shards %v: not interleaved", shards)
		}
		// As on mysqld: LAST_INSERT_ID() is the first generated id,
		// ROW_COUNT() is -1 after a statement that returned rows.
		same(t, true, "select last_insert_id(), row_count()")
		resync(1003)
		same(t, true, "insert into rt (name, n) values ('g', 7) returning *")
		same(t, true, "select last_insert_id()")
	})
	t.Run("replace", func(t *testing.T) {
		same(t, true, "replace into rt (id, name, n) values (5, 'B', 20), (1000, 'A', 10), (8, 'h', 8) returning id, name, n")
	})
	t.Run("insert ignore and on duplicate key update", func(t *testing.T) {
		same(t, true, "insert ignore into rt (id, name, n) values (6, 'dup', 0), (9, 'i', 9) returning id, name")
		same(t, true, "insert into rt (id, name, n) values (7, 'x', 0), (10, 'j', 10) on duplicate key update n = n + 100 returning id, name, n")
	})
	t.Run("prepared", func(t *testing.T) {
		resync(1004)
		same(t, true, "insert into rt (id, name, n) values (?, ?, ?), (?, ?, ?), (?, ?, ?) returning id, name, n, n + 0.5 as half",
			nil, "p", 1, 20, "q", 2, nil, "r", 3)
		same(t, false, "delete from rt where id in (?, ?) returning id, name", 20, 1004)
	})
	t.Run("prepare announces the same columns as mysqld", func(t *testing.T) {
		// MariaDB 10.11 announces no columns when it prepares an INSERT
		// ... RETURNING; each execution sends its result set's columns.
		for _, addr := range []struct{ name, addr, db string }{{"gate", c.GateAddr, "customer"}, {"plain", c.OpenRootOverTCP(t, "commerce", "0"), "commerce"}} {
			conn := rawConn(t, addr.addr, "root", "", addr.db)
			st, err := conn.Prepare("insert into rt (id, name, n) values (?, ?, ?) returning id, name, n * 2, upper(name)")
			if err != nil {
				t.Fatalf("%s: %v", addr.name, err)
			}
			if st.ColumnNum() != 0 || st.ParamNum() != 3 {
				t.Fatalf("%s: prepared with %d columns, %d parameters", addr.name, st.ColumnNum(), st.ParamNum())
			}
			res, err := st.Execute(50, "s", 50)
			if err != nil {
				t.Fatalf("%s: %v", addr.name, err)
			}
			if len(res.Fields) != 4 || len(res.Values) != 1 || string(res.Fields[3].Name) != "upper(name)" || res.Values[0][0].AsInt64() != 50 {
				t.Fatalf("%s: result %d fields, %d rows", addr.name, len(res.Fields), len(res.Values))
			}
			st.Close()
		}
	})
	t.Run("delete over both shards", func(t *testing.T) {
		rows := same(t, false, "delete from rt where n < 5 returning id, name")
		if len(rows) < 2 {
			t.Fatalf("deleted %q", rows)
		}
		same(t, true, "select row_count()")
	})
	t.Run("rolled back transaction", func(t *testing.T) {
		resync(1006)
		before := same(t, true, "select * from rt order by id")
		for _, cn := range []*sql.Conn{gate, plain} {
			execC(t, cn, "begin")
		}
		same(t, true, "insert into rt (id, name, n) values (null, 't1', 1), (30, 't2', 2), (31, 't3', 3), (null, 't4', 4) returning id, name")
		same(t, false, "delete from rt where n >= 5 returning *")
		same(t, true, "select count(*) from rt")
		for _, cn := range []*sql.Conn{gate, plain} {
			execC(t, cn, "rollback")
		}
		if after := same(t, true, "select * from rt order by id"); !slices.Equal(before, after) {
			t.Fatalf("rollback left %q, had %q", after, before)
		}
	})
	t.Run("delete all returning star", func(t *testing.T) {
		same(t, false, "delete from rt returning *")
	})
	t.Run("refused", func(t *testing.T) {
		_, err := gate.ExecContext(ctx, "insert into rt (id, name) values (40, 'z') returning (select count(*) from rt)")
		var me *mysql.MySQLError
		if !errors.As(err, &me) || me.Number != 1235 {
			t.Fatalf("subquery in RETURNING: %v", err)
		}
	})
	t.Run("unsharded keyspace", func(t *testing.T) {
		db := c.DB(t, "commerce")
		mustExec(t, db, "create table rt_u (id bigint auto_increment primary key, name varchar(20))")
		if got := queryRows(t, db, "insert into rt_u (name) values ('x'), ('y') returning id, name"); !slices.Equal(got, []string{"1|x", "2|y"}) {
			t.Fatalf("insert returned %q", got)
		}
		if got := queryRows(t, db, "delete from rt_u where id = ? returning name", 1); !slices.Equal(got, []string{"x"}) {
			t.Fatalf("delete returned %q", got)
		}
	})
}
