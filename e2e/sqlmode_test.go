package e2e

import (
	"database/sql"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/mosaicdb/mosaic/e2e/cluster"
)

// mariadbBoth runs the mariadb client with args and script on the
// commerce keyspace through the gate and on its primary's mysqld, and
// returns both outputs (stdout and stderr together). Errors are part of
// the output: the script runs with --force.
func mariadbBoth(t *testing.T, c *cluster.Cluster, script string, args ...string) (gate, direct string) {
	t.Helper()
	if _, err := lookPath("mariadb"); err != nil {
		t.Skip("mariadb client not installed (make deps installs it)")
	}
	host, port, _ := net.SplitHostPort(c.GateAddr)
	p := c.Shards["commerce"]["0"].Primary()
	dhost, dport, _ := net.SplitHostPort(c.OpenRootOverTCP(t, "commerce", "0"))
	common := append([]string{"-u", "root", "--force"}, args...)
	gate, _ = runMariadb(t, script, append([]string{"-h", host, "-P", port, "commerce"}, common...)...)
	direct, _ = runMariadb(t, script, append([]string{"-h", dhost, "-P", dport, p.DBName}, common...)...)
	return gate, direct
}

// compareLines reports the lines where the gate's output differs from
// mysqld's.
func compareLines(t *testing.T, what, gate, direct string) {
	t.Helper()
	g, d := strings.Split(gate, "\n"), strings.Split(direct, "\n")
	bad := 0
	for i := 0; i < len(g) || i < len(d); i++ {
		var gl, dl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(d) {
			dl = d[i]
		}
		if gl != dl {
			t.Errorf("%s, line %d:\n  gate:    %q\n  mariadb: %q", what, i+1, gl, dl)
			if bad++; bad == 20 {
				t.Fatalf("too many differences; gate:\n%s\nmariadb:\n%s", gate, direct)
			}
		}
	}
}

// ignoreSpaceScript runs statements whose parse depends on IGNORE_SPACE,
// with the mode set by the client's CLIENT_IGNORE_SPACE, then by SET
// sql_mode, then taken away: the same text under both modes (a plan
// cached in one must not serve the other). Passed through as written to
// the unsharded keyspace, the statements need IGNORE_SPACE on the
// tablet's mysqld connection too.
const ignoreSpaceScript = `drop table if exists ignsp;
create table ignsp (id int primary key, v int);
insert into ignsp values (1, 10), (2, 20), (3, 30);
select @@sql_mode;
select count (*) from ignsp;
select count(*), max (v), sum (v) from ignsp where id > 1;
select substring ('abcd', 2), concat ('a', 'b'), cast (v as char) from ignsp where id = 1;
select v from ignsp where id in (select max (id) from ignsp);
set sql_mode = 'STRICT_TRANS_TABLES';
select @@sql_mode;
select count (*) from ignsp;
select count(*) from ignsp;
set sql_mode = 'IGNORE_SPACE,STRICT_TRANS_TABLES';
select @@sql_mode;
select count (*) from ignsp;
set sql_mode = concat(@@sql_mode, ',NO_ENGINE_SUBSTITUTION');
select count (*) from ignsp;
set sql_mode = DEFAULT;
select @@sql_mode;
select count (*) from ignsp;
drop table ignsp;
`

// testIgnoreSpace compares IGNORE_SPACE through the gate with mysqld: the
// mariadb client's --ignore-spaces sends CLIENT_IGNORE_SPACE, as MariaDB
// Connector/J does.
func testIgnoreSpace(t *testing.T, c *cluster.Cluster) {
	gate, direct := mariadbBoth(t, c, ignoreSpaceScript, "-N", "--ignore-spaces")
	compareLines(t, "--ignore-spaces", gate, direct)
	// Without the flag, and then with the mode set by SET.
	script := strings.Replace(ignoreSpaceScript, "select @@sql_mode;\n", "select @@sql_mode;\nset sql_mode = concat(@@sql_mode, ',IGNORE_SPACE');\n", 1)
	gate, direct = mariadbBoth(t, c, script, "-N")
	compareLines(t, "SET sql_mode", gate, direct)

	// A sharded keyspace: the statement is split across shards, and each
	// gets it regenerated.
	db := c.DB(t, "customer")
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range []string{"drop table if exists ignsp", "create table ignsp (id bigint primary key, v int)",
		"insert into ignsp (id, v) values (1, 1), (2, 2), (3, 3), (4, 4), (5, 5)"} {
		if _, err := conn.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	const spaced = "select count (*), sum (v) from ignsp"
	if _, err := conn.ExecContext(t.Context(), spaced); err == nil || !strings.Contains(err.Error(), "1064") {
		t.Fatalf("%s without IGNORE_SPACE: %v, want 1064", spaced, err)
	}
	if _, err := conn.ExecContext(t.Context(), "set sql_mode = concat(@@sql_mode, ',IGNORE_SPACE')"); err != nil {
		t.Fatal(err)
	}
	var n, sum int
	if err := conn.QueryRowContext(t.Context(), spaced).Scan(&n, &sum); err != nil || n != 5 || sum != 15 {
		t.Fatalf("%s with IGNORE_SPACE: %d %d %v, want 5 15", spaced, n, sum, err)
	}
}

// gateValuesScript selects the values the gate answers itself, alone and
// in expressions, with and without a keyspace's table.
const gateValuesScript = `select last_insert_id(), @@max_allowed_packet, @@autocommit, row_count(), found_rows(), @@in_transaction;
select @@warning_count, @@error_count, @@last_insert_id, @@identity, @@session.autocommit, @@SESSION.max_allowed_packet, (last_insert_id());
select database(), schema(), user(), current_user(), session_user(), system_user();
select connection_id() as id;
select last_insert_id() as lid, database() as db, 1 as one from information_schema.schemata where schema_name = 'information_schema';
`

// testGateValueColumns compares the column definitions of values the gate
// answers itself (LAST_INSERT_ID(), @@max_allowed_packet, ...) with
// mysqld's, as the mariadb client's --column-type-info shows them: type,
// flags, length, decimals and character set. Only Max_length, which the
// client computes from the values, and the values themselves are left
// out (user() and connection_id() differ).
func testGateValueColumns(t *testing.T, c *cluster.Cluster) {
	gate, direct := mariadbBoth(t, c, gateValuesScript, "--column-type-info", "-t", "--default-character-set=utf8mb4")
	compareLines(t, "--column-type-info", columnDefs(gate), columnDefs(direct))

	// The binary protocol: a prepared statement's column definitions at
	// prepare and with its rows, as go-sql-driver reads them.
	describe := func(dsn string) string {
		db, err := sql.Open("mysql", dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		rows, err := db.QueryContext(t.Context(), "select last_insert_id(), @@max_allowed_packet, @@autocommit, row_count(), connection_id(), database() from information_schema.schemata where schema_name = ?", "information_schema")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cts, err := rows.ColumnTypes()
		if err != nil {
			t.Fatal(err)
		}
		var sb strings.Builder
		for _, ct := range cts {
			null, _ := ct.Nullable()
			length, _ := ct.Length()
			fmt.Fprintf(&sb, "%s %s null=%v len=%d scan=%v\n", ct.Name(), ct.DatabaseTypeName(), null, length, ct.ScanType())
		}
		vals := make([]any, len(cts))
		for i := range vals {
			vals[i] = new(sql.RawBytes)
		}
		for rows.Next() {
			if err := rows.Scan(vals...); err != nil {
				t.Fatal(err)
			}
		}
		return sb.String()
	}
	compareLines(t, "prepared", describe(c.DSN("commerce")), describe(c.DirectDSN("commerce", "0")))
}

// columnDefs keeps the column definitions of --column-type-info output,
// without Max_length.
func columnDefs(out string) string {
	var sb strings.Builder
	for _, l := range strings.Split(out, "\n") {
		k, _, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(strings.Fields(k + " x")[0]) {
		case "Field", "Org_field", "Catalog", "Database", "Table", "Org_table", "Type", "Collation", "Length", "Decimals", "Flags":
			sb.WriteString(l + "\n")
		}
	}
	return sb.String()
}
