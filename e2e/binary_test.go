package e2e

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/mosaicdb/mosaic/e2e/cluster"
)

const binaryVSchema = `{
  "sharded": true,
  "vindexes": {"hash": {"type": "hash"}},
  "tables": {"bin": {"column_vindexes": [{"column": "id", "name": "hash"}]}}
}`

const binaryTable = "CREATE TABLE %s (id BIGINT PRIMARY KEY, b BLOB, u VARBINARY(16) UNIQUE," +
	" s VARCHAR(16) CHARACTER SET latin1 UNIQUE, t VARCHAR(16) CHARACTER SET utf8mb4)"

// TestBinaryData sends statements, values, results and errors that are
// not UTF-8 through the gate to an unsharded and a sharded keyspace:
// raw bytes in a literal, a BLOB of every byte written by go-sql-driver
// interpolating (_binary'...') and as a server-side prepared statement's
// parameter, latin1 text after SET NAMES latin1, a binary user variable,
// duplicate-key errors quoting such values. Each keyspace gives exactly
// what a plain mariadbd gives for the same statements.
func TestBinaryData(t *testing.T) {
	c := cluster.Start(t, cluster.Options{Keyspaces: []cluster.Keyspace{
		{Name: "commerce"},
		{Name: "customer", Shards: []string{"-80", "80-"}, VSchema: binaryVSchema},
	}})
	every := make([]byte, 256)
	for i := range every {
		every[i] = byte(i)
	}
	for _, ks := range []string{"commerce", "customer"} {
		t.Run(ks, func(t *testing.T) {
			prep, interp := c.DB(t, ks), c.DB(t, ks, "interpolateParams=true")
			mustExec(t, prep, fmt.Sprintf(binaryTable, "bin"))
			got := binaryObservations(t, prep, interp, "bin", every)

			shard := "0"
			if ks == "customer" {
				shard = "-80"
			}
			dsn := c.DirectDSN(ks, shard)
			dprep, dinterp := openDirect(t, dsn), openDirect(t, dsn+"?interpolateParams=true")
			mustExec(t, dprep, fmt.Sprintf(binaryTable, "bin_plain"))
			want := binaryObservations(t, dprep, dinterp, "bin_plain", every)
			binaryMariadbClient(t, c, ks, every)

			// The tablet's ExecuteFetchAsDba (mosaicctl) carries bytes too.
			res := c.Shards[ks][shard].Primary().ExecuteFetchAsDba(t, "SELECT HEX('\xff') AS h, _binary'\xff\x00'")
			if len(res.Rows) != 1 || string(res.Rows[0]) != "\x02FF\x02\xff\x00" {
				t.Errorf("ExecuteFetchAsDba gave %q", res)
			}
			for i := range max(len(got), len(want)) {
				g, w := "(none)", "(none)"
				if i < len(got) {
					g = got[i]
				}
				if i < len(want) {
					w = want[i]
				}
				if g != strings.ReplaceAll(w, "bin_plain", "bin") {
					t.Errorf("through the gate %s\n          mariadbd %s", g, w)
				}
			}
		})
	}
}

// binaryObservations runs the statements of TestBinaryData on table and
// returns what each gave, checking along the way what must hold
// everywhere. prep uses server-side prepared statements, interp
// interpolates arguments in the driver.
func binaryObservations(t *testing.T, prep, interp *sql.DB, table string, every []byte) []string {
	ctx := t.Context()
	var obs []string
	row := func(db interface {
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}, want []string, q string, args ...any) {
		t.Helper()
		vals := make([][]byte, len(want))
		ptrs := make([]any, len(want))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		var got []string
		err := db.QueryRowContext(ctx, q, args...).Scan(ptrs...)
		if err != nil {
			t.Fatalf("%q: %v", q, err)
		}
		for _, v := range vals {
			got = append(got, string(v))
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%q gave %q, want %q", q, got, want)
		}
		obs = append(obs, fmt.Sprintf("%q: %q", q, got))
	}
	dupErr := func(db interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
	}, first int, q string, args ...any) {
		t.Helper()
		// On a sharded keyspace a unique key holds per shard: the
		// duplicate fails on the first id of the first row's shard.
		for id := first; id < first+40; id++ {
			_, err := db.ExecContext(ctx, fmt.Sprintf(q, table, id), args...)
			if err == nil {
				continue
			}
			var me *mysql.MySQLError
			if !errors.As(err, &me) || me.Number != 1062 {
				t.Fatalf("%q: %v, want error 1062", q, err)
			}
			obs = append(obs, fmt.Sprintf("%q: %d %s %q", q, me.Number, me.SQLState, me.Message))
			return
		}
		t.Fatalf("%q never failed as a duplicate", q)
	}

	// Raw bytes in a literal of a text query.
	row(interp, []string{"FF", "FFFE"}, "SELECT HEX('\xff') AS b, HEX(_binary'\xff\xfe')")

	// Every byte, interpolated (_binary'...') and as a parameter.
	mustExec(t, interp, "INSERT INTO "+table+" (id, b) VALUES (?, ?)", 1, every)
	mustExec(t, prep, "INSERT INTO "+table+" (id, b) VALUES (?, ?)", 2, every)
	mustExec(t, interp, "INSERT INTO "+table+" (id, b) VALUES (?, ?), (?, ?), (?, ?)", 3, every[:128], 4, every[128:], 5, []byte("\xff'\\\x00"))
	for _, db := range []*sql.DB{interp, prep} {
		for i, want := range [][]byte{every, every, every[:128], every[128:], []byte("\xff'\\\x00")} {
			row(db, []string{string(want)}, "SELECT b FROM "+table+" WHERE id = ?", i+1)
		}
		row(db, []string{string(every)}, "SELECT b FROM "+table+" WHERE b = ?", every)
	}
	rows, err := interp.QueryContext(ctx, "SELECT id, b FROM "+table+" ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	var scatter []string
	for rows.Next() {
		var id int
		var b []byte
		if err := rows.Scan(&id, &b); err != nil {
			t.Fatal(err)
		}
		scatter = append(scatter, fmt.Sprintf("%d:%x", id, b))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if want := fmt.Sprintf("[1:%x 2:%x 3:%x 4:%x 5:ff275c00]", every, every, every[:128], every[128:]); fmt.Sprint(scatter) != want {
		t.Errorf("scatter read %v, want %s", scatter, want)
	}

	// Binary values in a user variable and in duplicate-key errors.
	conn, err := interp.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	mustExecConn(t, conn, "SET @b = _binary'\xff\xfe'")
	row(conn, []string{"FFFE"}, "SELECT HEX(@b)")
	mustExecConn(t, conn, "INSERT INTO "+table+" (id, u) VALUES (10, _binary'\xff\x00')")
	dupErr(conn, 100, "INSERT INTO %s (id, u) VALUES (%d, _binary'\xff\x00')")

	// latin1 text: a literal and a prepared statement's parameter, into a
	// latin1 and a utf8mb4 column; the duplicate-key error quotes it in
	// latin1.
	mustExecConn(t, conn, "SET NAMES latin1")
	mustExecConn(t, conn, "INSERT INTO "+table+" (id, s, t) VALUES (20, 'caf\xe9', 'caf\xe9')")
	row(conn, []string{"636166E9", "636166C3A9", "caf\xe9", "caf\xe9"}, "SELECT HEX(s), HEX(t), s, t FROM "+table+" WHERE id = 20")
	row(conn, []string{"caf\xe9"}, "SELECT t FROM "+table+" WHERE t = 'CAF\xc9'")
	dupErr(conn, 200, "INSERT INTO %s (id, s) VALUES (%d, 'caf\xe9')")
	pconn, err := prep.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer pconn.Close()
	mustExecConn(t, pconn, "SET NAMES latin1")
	mustExecConn(t, pconn, "INSERT INTO "+table+" (id, s, t) VALUES (?, ?, ?)", 21, "na\xefve", "na\xefve")
	row(pconn, []string{"6E61EF7665", "6E61C3AF7665"}, "SELECT HEX(s), HEX(t) FROM "+table+" WHERE id = ?", 21)
	return obs
}

// binaryMariadbClient restores a dump-like script with raw bytes in its
// literals through the mariadb client, as with a mysqldump of BLOB
// columns.
func binaryMariadbClient(t *testing.T, c *cluster.Cluster, ks string, every []byte) {
	if _, err := lookPath("mariadb"); err != nil {
		t.Log("mariadb client not installed: its part is skipped")
		return
	}
	var esc strings.Builder
	for _, b := range every {
		switch b {
		case 0:
			esc.WriteString(`\0`)
		case '\'', '\\':
			esc.WriteByte('\\')
			esc.WriteByte(b)
		default:
			esc.WriteByte(b)
		}
	}
	host, port, _ := net.SplitHostPort(c.GateAddr)
	script := "INSERT INTO bin (id, b) VALUES (30, '" + esc.String() + "');\n" +
		"SELECT HEX(b) = HEX(_binary'" + esc.String() + "'), LENGTH(b), HEX('\xff') FROM bin WHERE id = 30;\n"
	out, err := runMariadb(t, script, "-h", host, "-P", port, "-u", "root", "--binary-mode", "-N", ks)
	if err != nil {
		t.Fatalf("mariadb: %v\n%s", err, out)
	}
	if got := strings.Join(strings.Fields(out), " "); got != "1 256 FF" {
		t.Errorf("mariadb client read back %q, want 1 256 FF", out)
	}
}

func mustExecConn(t *testing.T, conn *sql.Conn, q string, args ...any) {
	t.Helper()
	if _, err := conn.ExecContext(t.Context(), q, args...); err != nil {
		t.Fatalf("%q: %v", q, err)
	}
}
