package e2e

import (
	"database/sql"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/mosaicdb/mosaic/e2e/cluster"
)

// callProcedures are the procedures testCall creates on commerce.
var callProcedures = []string{
	"create or replace table sp_call (id int primary key auto_increment, v int)",
	"create or replace procedure sp_two() begin select 1 as a; select 2 as b, 'x' as c union all select 3, null; end",
	`create or replace procedure sp_out(in a int, out b int, inout c varchar(20), out d varbinary(10), out e decimal(6,2), out n int)
begin set b = a * 2; set c = concat(c, '!'); set d = x'00ff'; set e = 12.5; set n = null; end`,
	"create or replace procedure sp_ins(in v int) begin insert into sp_call (v) values (v); select count(*) as n from sp_call; end",
	"create or replace procedure sp_echo(in v int) begin select v, v * 2 as twice; select 'second' as s; end",
}

// testCall runs CALLs of procedures that return result sets and set OUT
// and INOUT user variables, through the gate, with go-sql-driver (text and
// binary protocol), the mariadb client and a client without
// CLIENT_MULTI_RESULTS, and compares with the same statements sent to the
// keyspace's mysqld directly.
func testCall(t *testing.T, c *cluster.Cluster) {
	db := c.DB(t, "commerce")
	for _, q := range callProcedures {
		mustExec(t, db, q)
	}
	direct, err := sql.Open("mysql", c.DirectDSN("commerce", "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	ctx := t.Context()

	t.Run("result sets", func(t *testing.T) {
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		rows, err := conn.QueryContext(ctx, "call sp_two()")
		if err != nil {
			t.Fatal(err)
		}
		var sets [][]string
		for {
			cols, _ := rows.Columns()
			set := []string{strings.Join(cols, ",")}
			for rows.Next() {
				set = append(set, scanRow(t, rows, len(cols)))
			}
			sets = append(sets, set)
			if !rows.NextResultSet() {
				break
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		want := [][]string{{"a", "1"}, {"b,c", "2|x", "3|NULL"}}
		if !slices.EqualFunc(sets, want, slices.Equal) {
			t.Fatalf("CALL sp_two() result sets %q, want %q", sets, want)
		}
		// The final OK was read: the connection goes on.
		var n int
		if err := conn.QueryRowContext(ctx, "select 7").Scan(&n); err != nil || n != 7 {
			t.Fatalf("after the CALL: %d %v", n, err)
		}
	})

	t.Run("out and inout user variables", func(t *testing.T) {
		got := sameOnBoth(t, db, direct, "user variables after CALL", func(conn *sql.Conn) []string {
			for _, q := range []string{"set @c = 'hi'", "call sp_out(21, @b, @c, @d, @e, @n)", "call sp_out(@b, @b2, @c, @d, @e, @n)"} {
				if _, err := conn.ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			rows, err := conn.QueryContext(ctx, "select @b, @b2, @c, @d, hex(@d), @e, @e * 2, @n, @b + 1")
			if err != nil {
				t.Fatal(err)
			}
			return rowsAsText(t, rows)
		})
		if !strings.Contains(got[1], `"42"|"84"|"hi!!"`) {
			t.Fatalf("OUT/INOUT values %q", got[1])
		}
	})

	t.Run("rolled back transaction", func(t *testing.T) {
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		mustExecConn(t, conn, "begin")
		var n int
		if err := conn.QueryRowContext(ctx, "call sp_ins(5)").Scan(&n); err != nil || n != 1 {
			t.Fatalf("CALL in a transaction: %d %v", n, err)
		}
		mustExecConn(t, conn, "rollback")
		if err := conn.QueryRowContext(ctx, "select count(*) from sp_call").Scan(&n); err != nil || n != 0 {
			t.Fatalf("rows after rollback: %d %v", n, err)
		}
		if err := conn.QueryRowContext(ctx, "call sp_ins(6)").Scan(&n); err != nil || n != 1 {
			t.Fatalf("CALL in autocommit: %d %v", n, err)
		}
	})

	t.Run("prepared", func(t *testing.T) {
		rows, err := db.QueryContext(ctx, "call sp_echo(?)", 5)
		if err != nil {
			t.Fatal(err)
		}
		first := rowsAsTextKeep(t, rows)
		if !rows.NextResultSet() {
			t.Fatalf("prepared CALL: no second result set (%v)", rows.Err())
		}
		second := rowsAsText(t, rows)
		if strings.Join(first[1:], ";") != `"5"|"10"` || strings.Join(second[1:], ";") != `"second"` {
			t.Fatalf("prepared CALL results %q %q", first, second)
		}
	})

	// ? markers in OUT and INOUT positions: mysqld runs the CALL and, for
	// a client without CLIENT_PS_MULTI_RESULTS such as go-sql-driver,
	// leaves the OUT values out (JdbcProbe.java checks the values with
	// Connector/J, which asks for them).
	t.Run("prepared with OUT markers", func(t *testing.T) {
		sameOnBoth(t, db, direct, "prepared CALL with OUT markers", func(conn *sql.Conn) []string {
			var out []string
			for _, args := range [][]any{{21, nil, "hi", nil, nil, nil}, {1, 2, nil, 3, 4, 5}} {
				if _, err := conn.ExecContext(ctx, "call sp_out(?, ?, ?, ?, ?, ?)", args...); err != nil {
					out = append(out, describeErr(err))
				}
				rows, err := conn.QueryContext(ctx, "call sp_echo(?)", args[0])
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, rowsAsText(t, rows)...)
			}
			rows, err := conn.QueryContext(ctx, "select @_mosaic_out2, @_mosaic_out3")
			if err != nil {
				t.Fatal(err)
			}
			return append(out, rowsAsText(t, rows)...)
		})
	})

	t.Run("client without multi-results", func(t *testing.T) {
		gate := rawConn(t, c.GateAddr, "root", "", "commerce")
		_, err := gate.Execute("call sp_two()")
		if myErrCode(err) != 1312 {
			t.Fatalf("CALL from a client without CLIENT_MULTI_RESULTS: %v", err)
		}
		if _, err := gate.Execute("select 1"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("sharded keyspace", func(t *testing.T) {
		_, err := c.DB(t, "customer").Exec("call sp_two()")
		if err == nil || !strings.Contains(err.Error(), "1235") {
			t.Fatalf("CALL on a sharded keyspace: %v", err)
		}
		// One shard, targeted: the procedure lives on that shard.
		conn, err := c.DB(t, "customer").Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		mustExecConn(t, conn, "use `customer:-80`")
		mustExecConn(t, conn, "create or replace procedure sp_shard(out n int) begin select 1 as a; select 2 as b; set n = 5; end")
		rows, err := conn.QueryContext(ctx, "call sp_shard(@n)")
		if err != nil {
			t.Fatal(err)
		}
		first := rowsAsTextKeep(t, rows)
		if !rows.NextResultSet() {
			t.Fatalf("shard-targeted CALL: no second result set (%v)", rows.Err())
		}
		second := rowsAsText(t, rows)
		if strings.Join(first, ";") != `a;"1"` || strings.Join(second, ";") != `b:INT;"2"` {
			t.Fatalf("shard-targeted CALL results %q %q", first, second)
		}
		var n int
		if err := conn.QueryRowContext(ctx, "select @n").Scan(&n); err != nil || n != 5 {
			t.Fatalf("OUT variable of a shard-targeted CALL: %d %v", n, err)
		}
	})

	t.Run("mariadb client", func(t *testing.T) {
		if _, err := lookPath("mariadb"); err != nil {
			t.Skip("mariadb client not installed (make deps installs it)")
		}
		// The example of docs/compatibility.md, then the others.
		script := `delimiter //
create or replace procedure sp_doc(in a int, out b int) begin select a; select a + 1 as b, 'x' as c; set b = a * 2; end //
delimiter ;
call sp_doc(10, @x);
select @x;
call sp_two();
set @c = 'x';
call sp_out(1, @b, @c, @d, @e, @n);
select @b, @c, hex(@d), @e, @n;
call sp_echo(3);
`
		host, port, _ := net.SplitHostPort(c.GateAddr)
		got, err := runMariadb(t, script, "-h", host, "-P", port, "-u", "root", "-t", "commerce")
		if err != nil {
			t.Fatalf("mariadb through the gate: %v\n%s", err, got)
		}
		dhost, dport, _ := net.SplitHostPort(c.OpenRootOverTCP(t, "commerce", "0"))
		want, err := runMariadb(t, script, "-h", dhost, "-P", dport, "-u", "root", "-t", "commerce")
		if err != nil {
			t.Fatalf("mariadb to mysqld: %v\n%s", err, want)
		}
		if got != want || !strings.Contains(got, "second") {
			t.Fatalf("mariadb output through the gate:\n%s\nwant (mysqld):\n%s", got, want)
		}
	})
}

// rowsAsTextKeep is rowsAsText without closing rows, so that the next
// result set can be read.
func rowsAsTextKeep(t *testing.T, rows *sql.Rows) []string {
	t.Helper()
	cols, err := rows.ColumnTypes()
	if err != nil {
		t.Fatal(err)
	}
	var head []string
	for _, c := range cols {
		head = append(head, c.Name())
	}
	out := []string{strings.Join(head, ",")}
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var line []string
		for _, v := range vals {
			line = append(line, `"`+string(v)+`"`)
		}
		out = append(out, strings.Join(line, "|"))
	}
	return out
}

// sameOnBoth runs steps on a connection through the gate and on one to
// mysqld, fails the test unless they give the same lines, and returns the
// gate's.
func sameOnBoth(t *testing.T, gate, direct *sql.DB, what string, steps func(*sql.Conn) []string) []string {
	t.Helper()
	run := func(db *sql.DB) []string {
		conn, err := db.Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return steps(conn)
	}
	got, want := run(gate), run(direct)
	if !slices.Equal(got, want) {
		t.Fatalf("%s through the gate:\n%q\nwant (mysqld):\n%q", what, got, want)
	}
	return got
}
