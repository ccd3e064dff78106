package e2e

import (
	"crypto/sha256"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/mosaicdb/mosaic/e2e/cluster"
)

// driversVSchema shards the tables the driver and tool tests use by id.
const driversVSchema = `{
  "sharded": true,
  "vindexes": {"hash": {"type": "hash"}},
  "tables": {
    "alltypes": {"column_vindexes": [{"column": "id", "name": "hash"}]},
    "blobs":    {"column_vindexes": [{"column": "id", "name": "hash"}]},
    "m":        {"column_vindexes": [{"column": "id", "name": "hash"}]},
    "cli":      {"column_vindexes": [{"column": "id", "name": "hash"}]},
    "pydrv1":   {"column_vindexes": [{"column": "id", "name": "hash"}]},
    "pydrv2":   {"column_vindexes": [{"column": "id", "name": "hash"}]},
    "pldrv":    {"column_vindexes": [{"column": "id", "name": "hash"}]},
    "sbtest1":  {"column_vindexes": [{"column": "id", "name": "hash"}]},
    "sbtest2":  {"column_vindexes": [{"column": "id", "name": "hash"}]},
    "sp":       {"column_vindexes": [{"column": "id", "name": "hash"}]},
    "fr":       {"column_vindexes": [{"column": "id", "name": "hash"}]},
    "ignsp":    {"column_vindexes": [{"column": "id", "name": "hash"}]},
    "wcoll":    {"column_vindexes": [{"column": "id", "name": "hash"}]},
    "wnbe":     {"column_vindexes": [{"column": "id", "name": "hash"}]},
    "bk":       {"column_vindexes": [{"column": "id", "name": "hash"}]},
    "cm":       {"column_vindexes": [{"column": "id", "name": "hash"}]},
    "products": {"column_vindexes": [{"column": "id", "name": "hash"}],
                 "auto_increment": {"column": "id", "sequence": "commerce.products_seq"}},
    "line_items": {"column_vindexes": [{"column": "product_id", "name": "hash"}],
                 "auto_increment": {"column": "id", "sequence": "commerce.line_items_seq"}},
    "rt":       {"column_vindexes": [{"column": "id", "name": "hash"}],
                 "auto_increment": {"column": "id", "sequence": "commerce.rt_seq"}}
  }
}`

const commerceVSchema = `{"tables": {"products_seq": {"type": "sequence"}, "line_items_seq": {"type": "sequence"}, "rt_seq": {"type": "sequence"}}}`

// TestDrivers runs what real applications and tools send through one
// cluster: an unsharded keyspace (commerce) and a sharded one (customer).
// Each subtest says which driver or tool it uses.
func TestDrivers(t *testing.T) {
	c := cluster.Start(t, cluster.Options{
		Keyspaces: []cluster.Keyspace{
			{Name: "commerce", VSchema: commerceVSchema},
			{Name: "customer", Shards: []string{"-80", "80-"}, VSchema: driversVSchema},
		},
	})
	t.Run("go-sql-driver column types", func(t *testing.T) { testColumnTypes(t, c) })
	t.Run("go-sql-driver prepared statements", func(t *testing.T) { testPrepared(t, c) })
	t.Run("go-sql-driver multi-statements", func(t *testing.T) { testMultiStatements(t, c) })
	t.Run("stored programs", func(t *testing.T) { testStoredPrograms(t, c) })
	t.Run("CALL results and OUT parameters", func(t *testing.T) { testCall(t, c) })
	t.Run("go-sql-driver packets over 16 MiB", func(t *testing.T) { testLargePackets(t, c) })
	t.Run("protocol commands", func(t *testing.T) { testCommands(t, c) })
	t.Run("kill and time limits", func(t *testing.T) { testKillAndTimeouts(t, c) })
	t.Run("connection limits", func(t *testing.T) { testConnectionLimits(t, c) })
	t.Run("authentication and TLS", func(t *testing.T) { testAuth(t, c) })
	t.Run("mariadb client", func(t *testing.T) { testMariadbClient(t, c) })
	t.Run("sysbench", func(t *testing.T) { testSysbench(t, c) })
	t.Run("gorm", func(t *testing.T) { testGorm(t, c) })
	t.Run("returning", func(t *testing.T) { testReturning(t, c) })
	t.Run("savepoints", func(t *testing.T) { testSavepoints(t, c) })
	t.Run("CLIENT_FOUND_ROWS", func(t *testing.T) { testClientFoundRows(t, c) })
	t.Run("IGNORE_SPACE", func(t *testing.T) { testIgnoreSpace(t, c) })
	t.Run("handshake collation", func(t *testing.T) { testHandshakeCollation(t, c) })
	t.Run("NO_BACKSLASH_ESCAPES", func(t *testing.T) { testNoBackslashEscapes(t, c) })
	t.Run("multi-byte client charsets", func(t *testing.T) { testMultibyteCharsets(t, c) })
	t.Run("SIGNAL in multi-results", func(t *testing.T) { testSignalFlow(t, c) })
	t.Run("compressed protocol", func(t *testing.T) { testCompression(t, c) })
	t.Run("columns of values the gate answers", func(t *testing.T) { testGateValueColumns(t, c) })
	t.Run("COM_STMT_BULK_EXECUTE", func(t *testing.T) { testBulk(t, c) })
	t.Run("MARIADB_CLIENT_CACHE_METADATA", func(t *testing.T) { testCacheMetadata(t, c) })
	t.Run("MariaDB Connector/J", func(t *testing.T) { testJDBC(t, c) })
	t.Run("python drivers", func(t *testing.T) {
		testScriptDriver(t, c, "/usr/bin/python3", "testdata/drivers.py", "python drivers ok")
	})
	t.Run("perl DBD::MariaDB", func(t *testing.T) { testScriptDriver(t, c, "perl", "testdata/drivers.pl", "perl driver ok") })
}

const allTypesDDL = `create table alltypes (
  id bigint primary key,
  ti tinyint, tiu tinyint unsigned, si smallint, mi mediumint, i int, iu int unsigned,
  bi bigint, biu bigint unsigned, f float, d double, dc decimal(14,4),
  dt date, dtt datetime, dtt6 datetime(6), ts timestamp(3) null default null,
  tm time, tm6 time(6), y year, c char(10), vc varchar(100), tx text, bl blob,
  vb varbinary(20), bt bit(10), en enum('a','b','c'), st set('x','y'), js json
)`

const allTypesColumns = "id, ti, tiu, si, mi, i, iu, bi, biu, f, d, dc, dt, dtt, dtt6, ts, tm, tm6, y, c, vc, tx, bl, vb, bt, en, st, js"

var allTypesRows = []string{
	`(1, 1, 2, 3, 4, 5, 6, 7, 8, 1.5, 2.25, 1234.5678, '2024-02-29', '2024-02-29 13:14:15', '2024-02-29 13:14:15.123456',
	  '2024-02-29 13:14:15.250', '12:34:56', '-100:00:01.000250', 2024, 'abc', 'héllo wörld', 'some text', x'00ff10',
	  x'0102', b'1010101010', 'b', 'x,y', '{"a": [1, 2]}')`,
	`(2, -128, 255, -32768, -8388608, -2147483648, 4294967295, -9223372036854775808, 18446744073709551615,
	  -3.4e38, 1.7976931348623157e308, -9999999999.9999, '1000-01-01', '9999-12-31 23:59:59', '2000-01-01 00:00:00.000001',
	  '1970-01-02 00:00:00.000', '00:00:00', '838:59:59.000000', 1901, '', '', '', x'', x'', b'0', 'a', '', '[]')`,
	`(3, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null,
	  null, null, null, null, null, null, null, null, null)`,
	`(4, 0, 0, 0, 0, 0, 0, 0, 0, 0.1, 0.1, 0, '2024-01-02', '2024-01-02 00:00:00', '2024-01-02 03:04:05.000000',
	  '2024-01-02 03:04:05.999', '-00:00:01', '00:00:00.5', 2000, 'x', 'y', 'z', x'41', x'41', b'1', 'c', 'y', 'null')`,
}

// rowsAsText reads every row as text ("NULL" for NULL), with the column
// names and database types as the first line.
func rowsAsText(t *testing.T, rows *sql.Rows) []string {
	t.Helper()
	defer rows.Close()
	cols, err := rows.ColumnTypes()
	if err != nil {
		t.Fatal(err)
	}
	var head []string
	for _, c := range cols {
		head = append(head, c.Name()+":"+c.DatabaseTypeName())
	}
	out := []string{strings.Join(head, ",")}
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var line []string
		for _, v := range vals {
			if v == nil {
				line = append(line, "NULL")
			} else {
				line = append(line, fmt.Sprintf("%q", v))
			}
		}
		out = append(out, strings.Join(line, "|"))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// queryText runs q with args and returns rowsAsText.
func queryText(t *testing.T, db *sql.DB, q string, args ...any) []string {
	t.Helper()
	rows, err := db.Query(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return rowsAsText(t, rows)
}

// directRows reads q from every shard of keyspace directly, sorted
// after the header line.
func directRows(t *testing.T, c *cluster.Cluster, keyspace string, q string, args ...any) []string {
	t.Helper()
	var out []string
	shards := make([]string, 0, len(c.Shards[keyspace]))
	for sh := range c.Shards[keyspace] {
		shards = append(shards, sh)
	}
	sort.Strings(shards)
	for _, sh := range shards {
		db := openDirect(t, c.DirectDSN(keyspace, sh))
		r := queryText(t, db, q, args...)
		if out == nil {
			out = r[:1]
		}
		out = append(out, r[1:]...)
	}
	sort.Strings(out[1:])
	return out
}

func sortedBody(r []string) []string {
	out := append([]string(nil), r...)
	sort.Strings(out[1:])
	return out
}

func diffRows(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s\n got:\n  %s\nwant:\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// testColumnTypes round-trips every common column type through the gate,
// with the text protocol and with prepared statements (binary protocol),
// and compares each with the same read straight from mysqld.
func testColumnTypes(t *testing.T, c *cluster.Cluster) {
	for _, ks := range []string{"commerce", "customer"} {
		t.Run(ks, func(t *testing.T) {
			text := c.DB(t, ks, "interpolateParams=true")
			prep := c.DB(t, ks)
			mustExec(t, text, allTypesDDL)
			mustExec(t, text, "insert into alltypes ("+allTypesColumns+") values "+strings.Join(allTypesRows, ", "))
			q := "select * from alltypes where id > ? order by id"
			gotText := sortedBody(queryText(t, text, q, 0))
			gotPrep := sortedBody(queryText(t, prep, q, 0))
			wantText := directRows(t, c, ks, strings.Replace(q, "?", "0", 1))
			wantPrep := directRows(t, c, ks, q, 0)
			if len(wantText) != len(allTypesRows)+1 {
				t.Fatalf("mysqld holds %d rows", len(wantText)-1)
			}
			diffRows(t, "text protocol", gotText, wantText)
			diffRows(t, "binary protocol", gotPrep, wantPrep)
			// Expressions over columns and parameters. (An arithmetic
			// expression of a parameter may be typed differently: the gate
			// sends the value as a literal, mysqld types it by the
			// parameter's type.)
			q2 := "select id, ti + 1, concat(vc, ?), dtt6, tm, d / 2 from alltypes where id in (?, ?, ?)"
			args := []any{"!", int64(1), int64(2), int64(3)}
			diffRows(t, "binary protocol, expressions", sortedBody(queryText(t, prep, q2, args...)), directRows(t, c, ks, q2, args...))
		})
	}
}

// testPrepared runs DML as server-side prepared statements and checks that
// each execution is routed by its own values.
func testPrepared(t *testing.T, c *cluster.Cluster) {
	db := c.DB(t, "customer")
	mustExec(t, db, "create table m (id bigint primary key, v varchar(20), n int)")
	ins, err := db.Prepare("insert into m (id, v, n) values (?, ?, ?)")
	if err != nil {
		t.Fatal(err)
	}
	defer ins.Close()
	for i := 1; i <= 40; i++ {
		if _, err := ins.Exec(i, fmt.Sprintf("v%d", i), i*10); err != nil {
			t.Fatal(err)
		}
	}
	// Each row is on exactly one shard, and not all on one.
	perShard := map[string]int{}
	for _, sh := range []string{"-80", "80-"} {
		perShard[sh] = count(t, openDirect(t, c.DirectDSN("customer", sh)), "select count(*) from m")
	}
	if perShard["-80"]+perShard["80-"] != 40 || perShard["-80"] == 0 || perShard["80-"] == 0 {
		t.Fatalf("rows per shard %v", perShard)
	}
	sel, err := db.Prepare("select v, n from m where id = ?")
	if err != nil {
		t.Fatal(err)
	}
	defer sel.Close()
	for _, id := range []int{1, 17, 40} {
		var v string
		var n int
		if err := sel.QueryRow(id).Scan(&v, &n); err != nil || v != fmt.Sprintf("v%d", id) || n != id*10 {
			t.Fatalf("id %d: %q %d %v", id, v, n, err)
		}
	}
	// A scatter with a limit stops the shards' streams early.
	for _, q := range []string{"select id from m where id > ? order by id limit 3", "select id from m where id > ? limit 1"} {
		var ids []int
		rows, err := db.Query(q, 0)
		if err == nil {
			for rows.Next() {
				var id int
				rows.Scan(&id)
				ids = append(ids, id)
			}
			err = rows.Err()
			rows.Close()
		}
		if err != nil || (len(ids) != 3 && len(ids) != 1) {
			t.Fatalf("%s: %v %v", q, ids, err)
		}
	}
	upd, err := db.Prepare("update m set n = n + ? where id between ? and ?")
	if err != nil {
		t.Fatal(err)
	}
	defer upd.Close()
	r, err := upd.Exec(1, 5, 14)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := r.RowsAffected(); n != 10 {
		t.Fatalf("updated %d rows, want 10", n)
	}
	var sum int
	if err := db.QueryRow("select sum(n) from m where id between ? and ?", 5, 14).Scan(&sum); err != nil || sum != (5+14)*10*10/2+10 {
		t.Fatalf("sum = %d %v", sum, err)
	}
	// NULL parameters, and a statement re-executed after its types change.
	if _, err := db.Exec("update m set v = ? where id = ?", nil, 3); err != nil {
		t.Fatal(err)
	}
	var v sql.NullString
	if err := db.QueryRow("select v from m where id = ?", "3").Scan(&v); err != nil || v.Valid {
		t.Fatalf("v = %v %v", v, err)
	}
	// Errors come back with their codes, and the connection goes on.
	_, err = db.Exec("insert into m (id, v, n) values (?, ?, ?)", 1, "dup", 0)
	if code, _ := mysqlErr(t, err); code != 1062 {
		t.Fatalf("duplicate insert: %v", err)
	}
	if _, err := db.Prepare("select * from nosuch where id = ?"); err == nil {
		t.Fatal("preparing a select from a missing table worked")
	}
	// A transaction of prepared statements on both shards.
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []int{101, 102, 103, 104} {
		if _, err := tx.Exec("insert into m (id, v, n) values (?, ?, ?)", id, "tx", 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, "select count(*) from m where v = 'tx'"); n != 0 {
		t.Fatalf("%d rows survived the rollback", n)
	}
	mustExec(t, db, "delete from m where id > ?", 0)
}

// testMultiStatements sends several statements in one COM_QUERY.
func testMultiStatements(t *testing.T, c *cluster.Cluster) {
	for _, ks := range []string{"commerce", "customer"} {
		t.Run(ks, func(t *testing.T) {
			db := c.DB(t, ks, "multiStatements=true")
			db.SetMaxOpenConns(1)
			mustExec(t, db, "create table if not exists m (id bigint primary key, v varchar(20), n int)")
			mustExec(t, db, "delete from m; insert into m (id, v, n) values (1, 'a', 1); insert into m (id, v, n) values (2, 'b', 2);\n update m set n = n + 10 where id = 1;")
			if n := count(t, db, "select sum(n) from m"); n != 13 {
				t.Fatalf("sum after the batch = %d", n)
			}
			rows, err := db.Query("select id, v from m order by id; select 'x' as x, 42 as y; select count(*) from m")
			if err != nil {
				t.Fatal(err)
			}
			var sets [][]string
			for {
				var set []string
				cols, _ := rows.Columns()
				vals := make([]sql.RawBytes, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				for rows.Next() {
					if err := rows.Scan(ptrs...); err != nil {
						t.Fatal(err)
					}
					var parts []string
					for _, v := range vals {
						parts = append(parts, string(v))
					}
					set = append(set, strings.Join(parts, ","))
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
			if got := fmt.Sprint(sets); got != "[[1,a 2,b] [x,42] [2]]" {
				t.Fatalf("result sets %s", got)
			}
			// The first error ends the batch: what follows does not run.
			_, err = db.Exec("insert into m (id, v, n) values (10, 'c', 0); insert into nosuch (id) values (1); insert into m (id, v, n) values (11, 'd', 0)")
			if code, _ := mysqlErr(t, err); code != 1146 {
				t.Fatalf("batch with a bad statement: %v", err)
			}
			if n := count(t, db, "select count(*) from m where id in (10, 11)"); n != 1 {
				t.Fatalf("%d of the rows around the error exist, want only the first", n)
			}
			// Semicolons in strings and comments do not split.
			mustExec(t, db, "insert into m (id, v, n) values (12, 'x;y', 0) /* ; */; -- ;\n insert into m (id, v, n) values (13, ';', 0)")
			var v string
			if err := db.QueryRow("select v from m where id = 12").Scan(&v); err != nil || v != "x;y" {
				t.Fatalf("v = %q %v", v, err)
			}
		})
	}
	// Without multiStatements a batch is a syntax error, as in mysqld.
	db := c.DB(t, "commerce")
	if _, err := db.Exec("select 1; select 2"); err == nil {
		t.Fatal("a batch ran on a connection without multi-statements")
	} else if code, _ := mysqlErr(t, err); code != 1064 {
		t.Fatalf("batch without multi-statements: %v", err)
	}
}

// testLargePackets moves a 17 MiB blob in both directions, as a text query
// (several 16 MiB packets from the client) and through a prepared
// statement with COM_STMT_SEND_LONG_DATA, and checks max_allowed_packet.
func testLargePackets(t *testing.T, c *cluster.Cluster) {
	blob := make([]byte, 17<<20+123)
	for i := range blob {
		blob[i] = byte(i*7 + i>>11)
	}
	want := sha256.Sum256(blob)
	text := c.DB(t, "customer", "interpolateParams=true")
	// maxAllowedPacket 32 MiB makes the driver send the blob as long data.
	prep := c.DB(t, "customer", "maxAllowedPacket=33554432")
	mustExec(t, text, "create table blobs (id bigint primary key, b longblob)")
	mustExec(t, text, "insert into blobs (id, b) values (?, ?)", 1, blob)
	mustExec(t, prep, "insert into blobs (id, b) values (?, ?)", 2, blob)
	for _, id := range []int{1, 2} {
		for name, db := range map[string]*sql.DB{"text": text, "prepared": prep} {
			var got []byte
			if err := db.QueryRow("select b from blobs where id = ?", id).Scan(&got); err != nil {
				t.Fatalf("%s read of row %d: %v", name, id, err)
			}
			if sha256.Sum256(got) != want {
				t.Fatalf("%s read of row %d: %d bytes, not the blob", name, id, len(got))
			}
		}
	}
	// A gate with a 1 MiB max_allowed_packet refuses a 2 MiB statement
	// with 1153 and closes that connection, as mysqld does; it serves
	// new ones.
	addr := c.StartExtraGate(t, func(cfg *proxyConfig) { cfg.MaxAllowedPacket = 1 << 20 })
	small := openDirect(t, "root@tcp("+addr+")/commerce?maxAllowedPacket=8388608")
	_, err := small.Exec("select '" + strings.Repeat("a", 2<<20) + "'")
	if code, _ := mysqlErr(t, err); code != 1153 {
		t.Fatalf("oversized statement: %v", err)
	}
	if n := count(t, openDirect(t, "root@tcp("+addr+")/commerce"), "select 1"); n != 1 {
		t.Fatal("gate unusable after refusing a packet")
	}
	// Drivers size their packets by @@max_allowed_packet: it is the
	// gate's limit, not the tablets' mysqld's (1 GiB here).
	limited := openDirect(t, "root@tcp("+addr+")/commerce")
	for _, q := range []string{"select @@max_allowed_packet", "select @@session.max_allowed_packet"} {
		var v int64
		if err := limited.QueryRow(q).Scan(&v); err != nil || v != 1<<20 {
			t.Fatalf("%s = %d, %v; want the gate's 1048576", q, v, err)
		}
	}
	var name, v string
	if err := limited.QueryRow("show variables like 'max_allowed_packet'").Scan(&name, &v); err != nil || v != "1048576" {
		t.Fatalf("show variables like 'max_allowed_packet' = %s %s, %v", name, v, err)
	}
}

// testStoredPrograms creates a procedure, a function and a trigger on the
// unsharded keyspace the two ways clients send them: inside a batch of
// statements (a migration file with multiStatements), where the bodies'
// semicolons must not split the batch, and one per query (the mariadb
// client after DELIMITER).
func testStoredPrograms(t *testing.T, c *cluster.Cluster) {
	db := c.DB(t, "commerce", "multiStatements=true")
	db.SetMaxOpenConns(1)
	mustExec(t, db, `drop table if exists sp_acct; drop table if exists sp_audit;
create table sp_acct (id int primary key auto_increment, bal int);
create table sp_audit (id int primary key auto_increment, msg varchar(50));
create or replace procedure sp_add(in b int)
begin
  declare i int default 0;
  lbl: loop
    insert into sp_acct (bal) values (b + i);
    set i = i + 1;
    if i >= 2 then leave lbl; end if;
  end loop lbl;
end;
create or replace function sp_dbl(x int) returns int deterministic
begin
  return case when x > 0 then x * 2 else 0 end;
end;
create or replace trigger sp_acct_ai after insert on sp_acct for each row
  insert into sp_audit (msg) values (concat('new ', new.id, ';'));
call sp_add(10);`)
	if n := count(t, db, "select count(*) from sp_audit where msg like 'new %;'"); n != 2 {
		t.Fatalf("trigger rows after call = %d, want 2", n)
	}
	if n := count(t, db, "select sp_dbl(21)"); n != 42 {
		t.Fatalf("sp_dbl(21) = %d", n)
	}
	// One statement per query, as the mariadb client sends after DELIMITER.
	one := c.DB(t, "commerce")
	mustExec(t, one, "create or replace procedure sp_one() begin update sp_acct set bal = bal + 1; update sp_acct set bal = bal + 1; end")
	mustExec(t, one, "call sp_one()")
	if n := count(t, one, "select sum(bal) from sp_acct"); n != 25 {
		t.Fatalf("sum(bal) after sp_one = %d, want 25", n)
	}
}
