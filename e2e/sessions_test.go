package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mosaicdb/mosaic/e2e/cluster"
)

const sessionsCustomerVSchema = `{
  "sharded": true,
  "vindexes": {"hash": {"type": "hash"}},
  "tables": {
    "customer": {
      "column_vindexes": [{"column": "customer_id", "name": "hash"}],
      "auto_increment": {"column": "customer_id", "sequence": "commerce.customer_seq"}
    }
  }
}`

const sessionsCommerceVSchema = `{"tables": {"customer_seq": {"type": "sequence"}}}`

// compareScript is run through the gate on the unsharded keyspace and
// straight on its mysqld: every line must come out the same.
var compareScript = []string{
	"create table {t} (id bigint auto_increment primary key, v int)",
	"insert into {t} (v) values (1),(2),(3)",
	"select last_insert_id(), row_count()",
	"select row_count()",
	"insert into {t} (v) values (4)",
	"select last_insert_id(), @@last_insert_id, @@identity",
	"select sql_calc_found_rows * from {t} order by id limit 2",
	"select found_rows()",
	"select found_rows()",
	"select * from {t} order by id",
	"select found_rows(), row_count()",
	"update {t} set v = v + 1 where id > 2",
	"select row_count()",
	"delete from {t} where id = 100",
	"select row_count()",
	"select cast('abc' as signed)",
	"show warnings",
	"select @@warning_count",
	"show warnings",
	"select 1",
	"show warnings",
	"select * from {t} where id = 1",
	"show warnings",
	"select * from {t}_nosuch",
	"show warnings",
	"show errors",
	"select @@error_count, @@warning_count",
	"show count(*) warnings",
	"show count(*) errors",
	"select cast('abc' as signed), cast('x' as signed)",
	"show warnings limit 1",
	"show warnings limit 1, 1",
	"select database(), schema()",
	"set @x = 42, @y = @x + 1, @s = 'it''s', @n = null, @f = 1.5e0, @d = 2.50, @b = x'00ff'",
	"select @x, @y, @s, @n, @f, @d, hex(@b)",
	"set @x = @x + 1",
	"select @x",
	"set sql_mode = 'TRADITIONAL'",
	"select @@sql_mode, @@session.sql_mode",
	"set sql_mode = 'NOSUCH'",
	"set nosuchvar = 1",
	"set time_zone = 'Mars/Base'",
	"set sql_select_limit = 'x'",
	"set @@session.version = 'x'",
	"set @a = 1, sql_mode = 'NOSUCH'",
	"select @a",
	"set time_zone = '+05:00'",
	"select @@time_zone, timestampdiff(minute, utc_timestamp(), now())",
	"set autocommit = 0",
	"select @@autocommit, @@session.autocommit",
	"show variables like 'autocommit'",
	"set autocommit = 1",
	"show variables like 'autocommit'",
	"show session variables like 'time_zone'",
	"set names latin1",
	"select @@character_set_client, @@character_set_results, @@collation_connection",
	"set character_set_results = null",
	"select @@character_set_results",
	"set names utf8mb4",
	"select @@character_set_results",
	"set session transaction isolation level read committed",
	"select @@tx_isolation",
	"set tx_isolation = 'serializable'",
	"select @@tx_isolation",
	"set session transaction isolation level repeatable read",
	"set transaction isolation level serializable",
	"select @@tx_isolation",
	"start transaction",
	"set transaction isolation level read committed",
	"rollback",
	"start transaction read only",
	"insert into {t} (v) values (9)",
	"commit",
	"start transaction with consistent snapshot",
	"insert into {t} (v) values (9)",
	"rollback",
	"begin work",
	"insert into {t} (v) values (10)",
	"commit work",
	"select count(*) from {t}",
	"set sql_mode = default",
	"select @@sql_mode = @@global.sql_mode",
	"select @@foreign_key_checks",
	"set foreign_key_checks = off",
	"select @@foreign_key_checks",
	// Tools that create their database first (CREATE DATABASE [IF NOT
	// EXISTS]) find the keyspace as they would find the database.
	"create database commerce",
	"create database if not exists commerce",
	"show warnings",
	"select row_count()",
	"create database if not exists commerce",
	"select row_count()",
	// ... and drop it first if it exists (mariadb-slap, test set-ups).
	"drop database if exists mosaic_nosuch",
	"show warnings",
	"select row_count()",
	"drop database mosaic_nosuch",
	"drop database information_schema",
}

func TestSessionsCompareWithMariaDB(t *testing.T) {
	c := cluster.Start(t, cluster.Options{
		Keyspaces: []cluster.Keyspace{{Name: "commerce"}},
	})
	ctx := context.Background()
	gate, err := c.DB(t, "commerce").Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer gate.Close()
	direct, err := openDirect(t, c.DirectDSN("commerce", "0")).Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	got := runScript(t, gate, "g", compareScript)
	want := runScript(t, direct, "d", compareScript)
	for i := range compareScript {
		g := strings.ReplaceAll(got[i], "g_nosuch", "X_nosuch")
		w := strings.ReplaceAll(want[i], "d_nosuch", "X_nosuch")
		if g != w {
			t.Errorf("%s\n  gate:    %s\n  mariadb: %s", compareScript[i], g, w)
		}
	}
	if testing.Verbose() {
		for i := range compareScript {
			t.Logf("%s => %s", compareScript[i], got[i])
		}
	}
	_ = sql.ErrNoRows
}

// shardOf returns the shard of customer holding id, asking each shard's
// mysqld.
func shardOf(t *testing.T, c *cluster.Cluster, id int64) string {
	t.Helper()
	for _, sh := range []string{"-80", "80-"} {
		if count(t, openDirect(t, c.DirectDSN("customer", sh)), fmt.Sprintf("select count(*) from customer where customer_id = %d", id)) == 1 {
			return sh
		}
	}
	t.Fatalf("customer %d is on no shard", id)
	return ""
}

// queryRows returns every row of q as strings joined by "|".
func queryRows(t *testing.T, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, sqlText string, args ...any) []string {
	t.Helper()
	rows, err := q.QueryContext(context.Background(), sqlText, args...)
	if err != nil {
		t.Fatalf("%s: %v", sqlText, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		out = append(out, scanRow(t, rows, len(cols)))
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", sqlText, err)
	}
	return out
}

// scanRow scans the current row of n columns as strings joined by "|",
// NULL for NULL.
func scanRow(t *testing.T, rows *sql.Rows, n int) string {
	t.Helper()
	vals := make([]sql.NullString, n)
	ptrs := make([]any, n)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		t.Fatal(err)
	}
	r := make([]string, n)
	for i, v := range vals {
		r[i] = "NULL"
		if v.Valid {
			r[i] = v.String
		}
	}
	return strings.Join(r, "|")
}

// execC runs a statement on a connection (or anything with ExecContext).
func execC(t *testing.T, c interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, q string, args ...any) sql.Result {
	t.Helper()
	r, err := c.ExecContext(context.Background(), q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return r
}

func oneValue(t *testing.T, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, sqlText string, args ...any) string {
	t.Helper()
	rows := queryRows(t, q, sqlText, args...)
	if len(rows) != 1 {
		t.Fatalf("%s: %d rows", sqlText, len(rows))
	}
	return rows[0]
}

// TestSessionsSharded checks sessions on a sharded keyspace: settings and
// user variables reach every shard, USE variants, functions the gate
// answers, and diagnostics gathered from several shards.
func TestSessionsSharded(t *testing.T) {
	c := cluster.Start(t, cluster.Options{
		Keyspaces: []cluster.Keyspace{
			{Name: "commerce", VSchema: sessionsCommerceVSchema},
			{Name: "customer", Shards: []string{"-80", "80-"}, VSchema: sessionsCustomerVSchema},
		},
		Replicas: 1,
	})
	ctx := context.Background()
	commerce := c.DB(t, "commerce")
	seq := openDirect(t, c.DirectDSN("commerce", "0"))
	mustExec(t, seq, "create table customer_seq(id int, next_id bigint, cache bigint, primary key(id)) comment 'vitess_sequence'")
	mustExec(t, seq, "insert into customer_seq(id, next_id, cache) values (0, 1000, 100)")
	mustExec(t, commerce, "create table product (id bigint primary key, name varchar(20))")
	mustExec(t, commerce, "insert into product values (1, 'apple'), (2, 'pear')")
	db := c.DB(t, "customer", "interpolateParams=true")
	mustExec(t, db, "create table customer (customer_id bigint primary key, email varchar(16), note varchar(64))")

	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Ten customers from the sequence: LAST_INSERT_ID() is the first.
	r, err := conn.ExecContext(ctx, "insert into customer (email) values ('a'),('b'),('c'),('d'),('e'),('f'),('g'),('h'),('i'),('j')")
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := r.LastInsertId(); id != 1000 {
		t.Fatalf("insert id = %d, want 1000", id)
	}
	if got := oneValue(t, conn, "select last_insert_id()"); got != "1000" {
		t.Fatalf("last_insert_id() = %s", got)
	}
	r = execC(t, conn, "insert into customer (email) values ('k')")
	if id, _ := r.LastInsertId(); id != 1010 {
		t.Fatalf("second insert id = %d", id)
	}
	if got := oneValue(t, conn, "select last_insert_id()"); got != "1010" {
		t.Fatalf("last_insert_id() = %s", got)
	}
	// One customer on each shard.
	var idA, idB int64
	for id := int64(1000); id <= 1010 && (idA == 0 || idB == 0); id++ {
		if shardOf(t, c, id) == "-80" {
			idA = id
		} else {
			idB = id
		}
	}
	if idA == 0 || idB == 0 {
		t.Fatal("customers all on one shard")
	}

	t.Run("VariablesReachEveryShard", func(t *testing.T) {
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		execC(t, conn, "set time_zone = '+05:00', sql_mode = 'TRADITIONAL', @x = 7, @t = now(6)")
		rows := queryRows(t, conn, "select customer_id, @@time_zone, @@sql_mode, @x, @t, timestampdiff(minute, utc_timestamp(), now()) from customer order by customer_id")
		if len(rows) != 11 {
			t.Fatalf("%d rows", len(rows))
		}
		first := strings.SplitN(rows[0], "|", 2)[1]
		if !strings.HasPrefix(first, "+05:00|STRICT_TRANS_TABLES,STRICT_ALL_TABLES,") || !strings.HasSuffix(first, "|300") || !strings.Contains(first, "|7|") {
			t.Fatalf("row = %s", rows[0])
		}
		for _, row := range rows {
			if strings.SplitN(row, "|", 2)[1] != first {
				t.Fatalf("shards disagree:\n%s\n%s", rows[0], row)
			}
		}
		// Strict mode is on for writes on both shards.
		for _, id := range []int64{idA, idB} {
			_, err := conn.ExecContext(ctx, "update customer set email = repeat('x', 40) where customer_id = ?", id)
			if num, _ := mysqlErr(t, err); num != 1406 {
				t.Fatalf("too long value on customer %d: %v", id, err)
			}
		}
		// A user variable set now is read on whichever shard comes next.
		execC(t, conn, "set @v = concat('hello ', @x)")
		for _, id := range []int64{idA, idB} {
			if got := oneValue(t, conn, "select @v from customer where customer_id = ?", id); got != "hello 7" {
				t.Fatalf("@v on customer %d = %s", id, got)
			}
		}
		// A bad SET fails at once, with mysqld's error, and changes nothing.
		_, err = conn.ExecContext(ctx, "set @v = 'changed', time_zone = 'Mars/Base'")
		if num, _ := mysqlErr(t, err); num != 1298 {
			t.Fatalf("bad time zone: %v", err)
		}
		if got := oneValue(t, conn, "select @v, @@time_zone from customer where customer_id = ?", idB); got != "hello 7|+05:00" {
			t.Fatalf("after a failed SET: %s", got)
		}
		if got := oneValue(t, conn, "show variables like 'time_zone'"); got != "time_zone|+05:00" {
			t.Fatalf("show variables: %s", got)
		}
	})

	t.Run("UseVariants", func(t *testing.T) {
		// A handle of its own: USE changes its connection for good.
		conn, err := c.DB(t, "customer", "interpolateParams=true").Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		for _, c := range []struct{ use, db, readOnly string }{
			{"use customer@replica", "customer", "1"},
			{"use customer@primary", "customer", "0"},
			{"use `customer@replica`", "customer", "1"},
			{"use customer", "customer", "0"},
		} {
			execC(t, conn, c.use)
			if got := oneValue(t, conn, "select database(), @@read_only"); got != c.db+"|"+c.readOnly {
				t.Fatalf("%s: database(), @@read_only = %s", c.use, got)
			}
		}
		execC(t, conn, "use customer:-80")
		want := count(t, openDirect(t, c.DirectDSN("customer", "-80")), "select count(*) from customer")
		if got := oneValue(t, conn, "select count(*) from customer"); got != fmt.Sprint(want) {
			t.Fatalf("count on -80 through the gate = %s, on its mysqld %d", got, want)
		}
		if got := oneValue(t, conn, "select database()"); got != "customer" {
			t.Fatalf("database() on customer:-80 = %s", got)
		}
		// Across keyspaces, by qualified names.
		execC(t, conn, "use customer")
		if got := oneValue(t, conn, "select name from commerce.product where id = 2"); got != "pear" {
			t.Fatalf("commerce.product from customer = %s", got)
		}
		execC(t, conn, "use commerce")
		if got := oneValue(t, conn, "select email from customer.customer where customer_id = ?", idB); got == "" {
			t.Fatal("customer.customer from commerce: empty")
		}
		if got := oneValue(t, conn, "select count(*) from customer.customer"); got != "11" {
			t.Fatalf("count(*) of customer.customer from commerce = %s", got)
		}
		// No database selected.
		none, err := sql.Open("mysql", c.DSN(""))
		if err != nil {
			t.Fatal(err)
		}
		defer none.Close()
		if got := oneValue(t, none, "select database()"); got != "NULL" {
			t.Fatalf("database() with none selected = %s", got)
		}
	})

	t.Run("FoundRowsRowCountWarnings", func(t *testing.T) {
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		queryRows(t, conn, "select * from customer")
		if got := oneValue(t, conn, "select found_rows(), row_count()"); got != "11|-1" {
			t.Fatalf("found_rows(), row_count() after a scatter select = %s", got)
		}
		_, err = conn.ExecContext(ctx, "select sql_calc_found_rows * from customer limit 1")
		if num, _ := mysqlErr(t, err); num != 1235 {
			t.Fatalf("sql_calc_found_rows across shards: %v", err)
		}
		queryRows(t, conn, "select sql_calc_found_rows * from customer where customer_id = ? limit 0", idA)
		if got := oneValue(t, conn, "select found_rows()"); got != "1" {
			t.Fatalf("found_rows() after sql_calc_found_rows on one shard = %s", got)
		}
		execC(t, conn, "update customer set note = 'n' where customer_id in (?, ?)", idA, idB)
		if got := oneValue(t, conn, "select row_count()"); got != "2" {
			t.Fatalf("row_count() after an update on two shards = %s", got)
		}
		// Warnings of both shards, then kept by a statement without tables.
		queryRows(t, conn, "select cast(email as signed) from customer where customer_id in (?, ?)", idA, idB)
		queryRows(t, conn, "select 1")
		w := queryRows(t, conn, "show warnings")
		if len(w) != 2 || !strings.HasPrefix(w[0], "Warning|1292|") || !strings.HasPrefix(w[1], "Warning|1292|") {
			t.Fatalf("show warnings = %q", w)
		}
		if got := oneValue(t, conn, "select @@warning_count"); got != "2" {
			t.Fatalf("@@warning_count = %s", got)
		}
	})

	t.Run("UserFunctions", func(t *testing.T) {
		// USER() and CURRENT_USER name the client's gate account, not the
		// tablets' account on mysqld, on either kind of keyspace, in
		// scatter selects and in prepared statements.
		const user, current = "root@127.0.0.1", "root@%"
		want := strings.Join([]string{user, user, user, current, current}, "|")
		for _, q := range []*sql.DB{commerce, db} {
			if got := queryRows(t, q, "select user(), session_user(), system_user(), current_user(), current_user"); len(got) != 1 || got[0] != want {
				t.Fatalf("user functions = %q, want %q", got, want)
			}
		}
		for _, r := range queryRows(t, db, "select user() from customer") {
			if r != user {
				t.Fatalf("user() on a shard = %s, want %s", r, user)
			}
		}
		prepared := c.DB(t, "commerce")
		if got := oneValue(t, prepared, "select concat(current_user(), ?)", "!"); got != current+"!" {
			t.Fatalf("prepared current_user() = %s", got)
		}
	})

	t.Run("InformationSchemaOfAnotherKeyspace", func(t *testing.T) {
		// A tablet's mysqld knows only its own keyspace's database: a
		// filter naming another keyspace goes to that keyspace's tablets,
		// from any session, also with no database selected.
		none := c.DB(t, "")
		for _, tc := range []struct {
			q    *sql.DB
			sql  string
			want []string
		}{
			{commerce, "select table_name from information_schema.tables where table_schema = 'customer'", []string{"customer"}},
			{db, "select table_name from information_schema.tables where table_schema = 'commerce' and table_name = 'product'", []string{"product"}},
			{commerce, "select table_name from information_schema.tables where table_schema = 'commerce' and table_name = 'product'", []string{"product"}},
			{none, "select column_name from information_schema.columns where table_schema in ('customer') and table_name = 'customer' order by ordinal_position", []string{"customer_id", "email", "note"}},
			{none, "select schema_name from information_schema.schemata where schema_name like 'customer'", []string{"customer"}},
			// SCHEMATA lists the keyspaces, as SHOW DATABASES does (a
			// tablet's own lists its databases: _mosaic, mysql, ...).
			{db, "select schema_name from information_schema.schemata order by schema_name", []string{"commerce", "customer", "information_schema"}},
			{commerce, "select s.schema_name, s.default_character_set_name like 'utf8%' and i.schema_name is not null from information_schema.schemata s join information_schema.schemata i on i.schema_name = 'information_schema' where s.schema_name <> 'information_schema' order by 1", []string{"commerce|1", "customer|1"}},
			{none, "select count(*) from information_schema.SCHEMATA as x where x.SCHEMA_NAME in ('customer', 'mysql', '_mosaic')", []string{"1"}},
		} {
			if got := queryRows(t, tc.q, tc.sql); !slices.Equal(got, tc.want) {
				t.Errorf("%s: %q, want %q", tc.sql, got, tc.want)
			}
		}
	})

	t.Run("UseInformationSchema", func(t *testing.T) {
		// A client may select information_schema, as tools browsing a
		// server do: its tables are then unqualified.
		is := c.DB(t, "information_schema")
		if got := oneValue(t, is, "select database()"); got != "information_schema" {
			t.Fatalf("database() = %s", got)
		}
		if got := queryRows(t, is, "select table_name from tables where table_schema = 'customer'"); !slices.Equal(got, []string{"customer"}) {
			t.Fatalf("unqualified information_schema.tables = %q", got)
		}
		if got := queryRows(t, is, "show tables like 'SCHEMATA'"); !slices.Equal(got, []string{"SCHEMATA"}) {
			t.Fatalf("show tables = %q", got)
		}
		if got := queryRows(t, is, "show columns from schemata"); len(got) == 0 || !strings.HasPrefix(got[0], "CATALOG_NAME|") {
			t.Fatalf("show columns = %q", got)
		}
		// And back to a keyspace on the same connection.
		conn, err := is.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "use customer"); err != nil {
			t.Fatal(err)
		}
		if got := oneValue(t, conn, "select count(*) from customer"); got == "" {
			t.Fatal("no count after use customer")
		}
		if _, err := conn.ExecContext(ctx, "use information_schema"); err != nil {
			t.Fatal(err)
		}
		if got := oneValue(t, conn, "select count(*) from schemata where schema_name = 'customer'"); got != "1" {
			t.Fatalf("schemata of customer after use information_schema = %s", got)
		}
	})

	t.Run("ConnectionID", func(t *testing.T) {
		// CONNECTION_ID() is the id KILL takes at the gate: one
		// connection kills another by it.
		victim, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer victim.Close()
		killer, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer killer.Close()
		id := oneValue(t, victim, "select connection_id()")
		if other := oneValue(t, killer, "select connection_id()"); other == id {
			t.Fatalf("two connections share connection_id() %s", id)
		}
		// The same value from a scatter select and a prepared statement.
		for _, r := range queryRows(t, victim, "select connection_id() from customer") {
			if r != id {
				t.Fatalf("connection_id() on a shard = %s, want %s", r, id)
			}
		}
		if got := oneValue(t, victim, "select connection_id() + ?", 0); got != id {
			t.Fatalf("prepared connection_id() + 0 = %s, want %s", got, id)
		}
		// SHOW PROCESSLIST lists the gate's connections by those ids,
		// with what each runs.
		sleeper, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer sleeper.Close()
		sleeperID := oneValue(t, sleeper, "select connection_id()")
		slept := make(chan error, 1)
		go func() {
			_, err := sleeper.ExecContext(ctx, "select sleep(3) /* processlist */")
			slept <- err
		}()
		killerID := oneValue(t, killer, "select connection_id()")
		var running, idle, own string
		waitFor(t, "the sleeping statement in SHOW FULL PROCESSLIST", func() bool {
			running, idle, own = "", "", ""
			for _, r := range queryRows(t, killer, "show full processlist") {
				f := strings.Split(r, "|")
				if len(f) != 9 {
					t.Fatalf("processlist row %q: want 9 columns", r)
				}
				switch f[0] {
				case sleeperID:
					running = strings.Join([]string{f[1], f[3], f[4], f[7]}, "|")
				case id:
					idle = strings.Join([]string{f[3], f[4], f[7]}, "|")
				case killerID:
					own = f[7]
				}
			}
			return running == "root|customer|Query|select sleep(3) /* processlist */"
		})
		if idle != "customer|Sleep|NULL" || own != "show full processlist" && own != "SHOW FULL PROCESSLIST" {
			t.Errorf("processlist: idle connection %q, own statement %q", idle, own)
		}
		if err := <-slept; err != nil {
			t.Fatal(err)
		}
		execC(t, killer, "kill "+id)
		waitFor(t, "the connection killed by its connection_id()", func() bool {
			_, err := victim.ExecContext(ctx, "select 1")
			return err != nil
		})
	})

	t.Run("IsolationLevels", func(t *testing.T) {
		reader, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer reader.Close()
		// sees reports whether a transaction begun with begin sees a
		// change committed after its first read.
		sees := func(begin ...string) bool {
			for _, q := range begin {
				execC(t, reader, q)
			}
			before := oneValue(t, reader, "select note from customer where customer_id = ?", idB)
			mustExec(t, db, "update customer set note = concat(note, '+') where customer_id = ?", idB)
			after := oneValue(t, reader, "select note from customer where customer_id = ?", idB)
			execC(t, reader, "commit")
			return before != after
		}
		if sees("begin") {
			t.Fatal("repeatable read saw a later commit")
		}
		if !sees("set transaction isolation level read committed", "start transaction") {
			t.Fatal("SET TRANSACTION ISOLATION LEVEL READ COMMITTED did not apply to the next transaction")
		}
		if sees("begin") {
			t.Fatal("SET TRANSACTION applied to more than one transaction")
		}
		if !sees("set session transaction isolation level read committed", "begin") || !sees("begin") {
			t.Fatal("SET SESSION TRANSACTION ISOLATION LEVEL did not last")
		}
		execC(t, reader, "set session transaction isolation level repeatable read")
		execC(t, reader, "start transaction read only")
		_, err = reader.ExecContext(ctx, "update customer set note = 'x' where customer_id = ?", idA)
		if num, _ := mysqlErr(t, err); num != 1792 {
			t.Fatalf("write in a read-only transaction: %v", err)
		}
		execC(t, reader, "rollback")
	})
}
