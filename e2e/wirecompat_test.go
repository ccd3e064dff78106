package e2e

import (
	"database/sql"
	"testing"

	"github.com/mosaicdb/mosaic/e2e/cluster"
)

// The wire-compatibility subtests of TestDrivers (issue 21): what a
// driver negotiates at connect time, run through the gate and straight on
// the unsharded keyspace's mysqld, and compared.

// collationScript reads the connection's character sets and compares,
// stores and reads back strings sent in the connection's character set.
// The statement text is UTF-8 bytes whatever the connection's character
// set: mysqld reads them as that character set's characters, and so
// must every shard through the gate.
var collationScript = []string{
	"select @@character_set_client, @@character_set_connection, @@character_set_results, @@collation_connection",
	"select 'a' = 'A', 'ü' = 'u', 'é' = 'e', collation('x'), charset('x'), coercibility('x')",
	"drop table if exists {t}",
	"create table {t} (id bigint primary key, v varchar(20) character set utf8mb4)",
	"insert into {t} (id, v) values (1, 'é'), (2, 'Ā'), (3, 'E')",
	"select id, v, hex(v) from {t} order by id",
	"select count(*) from {t} where v = 'É'",
	"select id from {t} where v in ('é', 'e') order by id",
	"drop table {t}",
}

// testHandshakeCollation connects with a collation in the handshake (as
// go-sql-driver's collation parameter and the mariadb client's
// --default-character-set do) and compares the sessions the gate and
// mysqld give it: the collation must hold from the first statement, with
// no SET NAMES.
func testHandshakeCollation(t *testing.T, c *cluster.Cluster) {
	for _, coll := range []string{"latin1_general_ci", "cp1257_bin", "binary", "utf8mb4_unicode_ci", "utf8mb4_general_ci"} {
		t.Run(coll, func(t *testing.T) {
			gate := wireConn(t, c.DSN("customer", "collation="+coll))
			direct := wireConn(t, c.DirectDSN("commerce", "0")+"?collation="+coll)
			got := runScript(t, gate, "wcoll", collationScript)
			want := runScript(t, direct, "wcoll", collationScript)
			diffRows(t, "collation "+coll, got, want)
		})
	}
	// The mariadb client names its character set's default collation.
	for _, cs := range []string{"latin1", "cp1257", "utf8mb4"} {
		script := "select @@character_set_client, @@collation_connection;\nselect 'é' = 'e', hex('é'), 'é';\n"
		gate, direct := mariadbBoth(t, c, script, "-N", "--default-character-set="+cs)
		compareLines(t, "--default-character-set="+cs, gate, direct)
	}
}

// wireConn opens one connection with dsn, closed when the test ends.
func wireConn(t *testing.T, dsn string) *sql.Conn {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatalf("connect %s: %v", dsn, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}
