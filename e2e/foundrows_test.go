package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/mosaicdb/mosaic/e2e/cluster"
)

// foundRowsStep is one statement of testClientFoundRows: its SQL ({t} is
// the table, {L0}.. and {H0}.. ids on the low and high shard of a
// sharded keyspace) and its arguments, sent as a prepared statement
// when there are any.
type foundRowsStep struct {
	sql  string
	args []any
}

// foundRowsScript reports affected rows that depend on CLIENT_FOUND_ROWS:
// an UPDATE that matches rows without changing them, and an INSERT ... ON
// DUPLICATE KEY UPDATE that leaves its row as it was.
var foundRowsScript = []foundRowsStep{
	{sql: "delete from {t}"},
	{sql: "insert into {t} (id, v) values ({L0}, 1), ({H0}, 1), ({L1}, 2)"},
	{sql: "update {t} set v = 1 where id = {L0}"},
	{sql: "update {t} set v = 1"},
	{sql: "update {t} set v = 1 where id in ({L0}, {H0})"},
	{sql: "update {t} set v = ? where id = ?", args: []any{1, "{L0}"}},
	{sql: "update {t} set v = v where id = ?", args: []any{"{H0}"}},
	{sql: "insert into {t} (id, v) values ({L0}, 1) on duplicate key update v = 1"},
	{sql: "insert into {t} (id, v) values ({L0}, 1) on duplicate key update v = 3"},
	{sql: "begin"},
	{sql: "update {t} set v = 3 where id = {L0}"},
	{sql: "update {t} set v = v"},
	{sql: "commit"},
	{sql: "select row_count()"},
	{sql: "update {t} set v = 1 where id = 999999"},
	{sql: "delete from {t} where id = {H0}"},
}

// runFoundRows runs foundRowsScript on one connection and describes what
// each step reported: affected rows, the selected value, or the error.
func runFoundRows(t *testing.T, conn *sql.Conn, table string, ids *strings.Replacer) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	for _, st := range foundRowsScript {
		q := ids.Replace(strings.ReplaceAll(st.sql, "{t}", table))
		args := make([]any, len(st.args))
		for i, a := range st.args {
			if s, ok := a.(string); ok {
				a = ids.Replace(s)
			}
			args[i] = a
		}
		if strings.HasPrefix(q, "select") {
			var v sql.NullString
			if err := conn.QueryRowContext(ctx, q, args...).Scan(&v); err != nil {
				out = append(out, describeErr(err))
				continue
			}
			out = append(out, v.String)
			continue
		}
		res, err := conn.ExecContext(ctx, q, args...)
		if err != nil {
			out = append(out, describeErr(err))
			continue
		}
		n, _ := res.RowsAffected()
		out = append(out, fmt.Sprint(n))
	}
	return out
}

// testClientFoundRows checks that a client that connects with
// CLIENT_FOUND_ROWS (go-sql-driver's clientFoundRows=true, JDBC's
// default) gets the rows an UPDATE matched, as from mysqld, and one that
// does not gets the rows it changed: on an unsharded keyspace, and on a
// sharded one where a statement spans both shards.
func testClientFoundRows(t *testing.T, c *cluster.Cluster) {
	ctx := context.Background()
	low, high := idsOnShards(2)
	ids := strings.NewReplacer("{L0}", fmt.Sprint(low[0]), "{L1}", fmt.Sprint(low[1]), "{H0}", fmt.Sprint(high[0]))
	ddl := "create table if not exists %s (id bigint primary key, v int)"
	for _, foundRows := range []string{"true", "false"} {
		param := "clientFoundRows=" + foundRows
		t.Run(param, func(t *testing.T) {
			ref := openDirect(t, c.DirectDSN("commerce", "0")+"?"+param)
			mustExec(t, ref, fmt.Sprintf(ddl, "frd"))
			refConn, err := ref.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer refConn.Close()
			want := runFoundRows(t, refConn, "frd", ids)
			for _, ks := range []string{"commerce", "customer"} {
				db := c.DB(t, ks, param)
				mustExec(t, db, fmt.Sprintf(ddl, "fr"))
				conn, err := db.Conn(ctx)
				if err != nil {
					t.Fatal(err)
				}
				got := runFoundRows(t, conn, "fr", ids)
				conn.Close()
				for i := range want {
					if got[i] != want[i] {
						t.Errorf("%s: %s\n  gate:    %s\n  mariadb: %s", ks, foundRowsScript[i].sql, got[i], want[i])
					}
				}
			}
		})
	}
}
