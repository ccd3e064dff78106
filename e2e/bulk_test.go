package e2e

import (
	"database/sql"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/mosaicdb/mosaic/e2e/cluster"
)

// bulkConn is a MariaDB client of the raw protocol, as MariaDB's own
// connectors speak it: it clears bit 0 (CLIENT_MYSQL) and asks for
// MARIADB_CLIENT_STMT_BULK_OPERATIONS, and sends COM_STMT_BULK_EXECUTE,
// which no Go driver does.
type bulkConn struct {
	t    *testing.T
	c    net.Conn
	seq  byte
	ext  uint32 // the server's extended capabilities
	caps uint32 // the server's capabilities
}

// MariaDB's extended capabilities the client asks for:
// MARIADB_CLIENT_STMT_BULK_OPERATIONS and MARIADB_CLIENT_CACHE_METADATA.
const (
	extBulk      = 1 << 2
	extCacheMeta = 1 << 4
)

func dialBulk(t *testing.T, addr, db string) *bulkConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	b := &bulkConn{t: t, c: c}
	g := b.read()
	i := strings.IndexByte(string(g), 0)
	p := g[i+1+4+8+1:]
	b.caps = uint32(binary.LittleEndian.Uint16(p)) | uint32(binary.LittleEndian.Uint16(p[5:]))<<16
	if b.caps&mysql.CLIENT_LONG_PASSWORD == 0 {
		b.ext = binary.LittleEndian.Uint32(p[14:])
	}
	caps := uint32(mysql.CLIENT_PROTOCOL_41 | mysql.CLIENT_SECURE_CONNECTION | mysql.CLIENT_PLUGIN_AUTH |
		mysql.CLIENT_CONNECT_WITH_DB | mysql.CLIENT_TRANSACTIONS | mysql.CLIENT_MULTI_RESULTS | mysql.CLIENT_PS_MULTI_RESULTS)
	r := binary.LittleEndian.AppendUint32(nil, caps)
	r = binary.LittleEndian.AppendUint32(r, 1<<24)
	r = append(r, 45)
	r = append(r, make([]byte, 19)...)
	r = binary.LittleEndian.AppendUint32(r, extBulk|extCacheMeta)
	r = append(r, "root\x00"...)
	r = append(r, 0)
	r = append(r, db+"\x00"...)
	r = append(r, "mysql_native_password\x00"...)
	b.write(r)
	ok := b.read()
	if ok[0] == 0xfe { // switch to another method: an empty password is empty in every one
		b.write(nil)
		ok = b.read()
	}
	if ok[0] != 0 {
		t.Fatalf("login to %s: % x", addr, ok)
	}
	return b
}

func (b *bulkConn) read() []byte {
	b.t.Helper()
	b.c.SetReadDeadline(time.Now().Add(2 * time.Minute))
	var h [4]byte
	if _, err := io.ReadFull(b.c, h[:]); err != nil {
		b.t.Fatal(err)
	}
	p := make([]byte, int(h[0])|int(h[1])<<8|int(h[2])<<16)
	if _, err := io.ReadFull(b.c, p); err != nil {
		b.t.Fatal(err)
	}
	b.seq = h[3] + 1
	return p
}

func (b *bulkConn) write(p []byte) {
	b.t.Helper()
	h := []byte{byte(len(p)), byte(len(p) >> 8), byte(len(p) >> 16), b.seq}
	b.seq++
	if _, err := b.c.Write(append(h, p...)); err != nil {
		b.t.Fatal(err)
	}
}

func (b *bulkConn) command(p []byte) []byte {
	b.seq = 0
	b.write(p)
	return b.read()
}

func lenEnc(p []byte) (uint64, []byte) {
	switch p[0] {
	case 0xfc:
		return uint64(binary.LittleEndian.Uint16(p[1:])), p[3:]
	case 0xfd:
		return uint64(p[1]) | uint64(p[2])<<8 | uint64(p[3])<<16, p[4:]
	case 0xfe:
		return binary.LittleEndian.Uint64(p[1:]), p[9:]
	}
	return uint64(p[0]), p[1:]
}

// answer describes an OK or ERR packet as a transcript line.
func answer(p []byte) string {
	switch p[0] {
	case 0xff:
		return fmt.Sprintf("ERR %d %s", binary.LittleEndian.Uint16(p[1:]), p[9:])
	case 0x00:
		affected, rest := lenEnc(p[1:])
		id, rest := lenEnc(rest)
		status, warnings := binary.LittleEndian.Uint16(rest), binary.LittleEndian.Uint16(rest[2:])
		info := ""
		if len(rest) > 4 {
			n, s := lenEnc(rest[4:])
			info = string(s[:n])
		}
		return fmt.Sprintf("OK affected=%d id=%d intrans=%v warnings=%d info=%q", affected, id, status&1 != 0, warnings, info)
	}
	return fmt.Sprintf("packet % x", p)
}

// query runs a text statement and returns its answer: the rows of a
// result set, one line each, or its OK or ERR.
func (b *bulkConn) query(sql string) string {
	p := b.command(append([]byte{mysql.COM_QUERY}, sql...))
	if p[0] == 0 || p[0] == 0xff {
		return answer(p)
	}
	n, _ := lenEnc(p)
	for range n + 1 {
		b.read()
	}
	var rows []string
	for {
		r := b.read()
		if r[0] == 0xfe && len(r) < 9 {
			return strings.Join(rows, "; ")
		}
		if r[0] == 0xff {
			return answer(r)
		}
		var vals []string
		for len(r) > 0 {
			if r[0] == 0xfb {
				vals, r = append(vals, "NULL"), r[1:]
				continue
			}
			l, rest := lenEnc(r)
			vals, r = append(vals, string(rest[:l])), rest[l:]
		}
		rows = append(rows, strings.Join(vals, ","))
	}
}

func (b *bulkConn) prepare(sql string) uint32 {
	p := b.command(append([]byte{mysql.COM_STMT_PREPARE}, sql...))
	if p[0] != 0 {
		b.t.Fatalf("prepare %s: %s", sql, answer(p))
	}
	id := binary.LittleEndian.Uint32(p[1:])
	for _, n := range []uint16{binary.LittleEndian.Uint16(p[7:]), binary.LittleEndian.Uint16(p[5:])} {
		if n > 0 {
			for range int(n) + 1 {
				b.read()
			}
		}
	}
	return id
}

// bulkValue is one parameter of one row: an int64, a string, nil (NULL),
// bulkDefault or bulkIgnore.
type bulkIndicator byte

const (
	bulkDefault bulkIndicator = 2
	bulkIgnore  bulkIndicator = 3
)

// bulk sends COM_STMT_BULK_EXECUTE with the types of the first row's
// values (withTypes) or none, and returns the answer.
func (b *bulkConn) bulk(id uint32, flags uint16, withTypes bool, types []byte, rows ...[]any) string {
	p := []byte{0xfa}
	p = binary.LittleEndian.AppendUint32(p, id)
	if withTypes {
		flags |= 128
	}
	p = binary.LittleEndian.AppendUint16(p, flags)
	if withTypes {
		for _, t := range types {
			p = append(p, t, 0)
		}
	}
	for _, row := range rows {
		for _, v := range row {
			switch v := v.(type) {
			case nil:
				p = append(p, 1)
			case bulkIndicator:
				p = append(p, byte(v))
			case int:
				p = append(p, 0)
				p = binary.LittleEndian.AppendUint64(p, uint64(v))
			case string:
				p = append(p, 0, byte(len(v)))
				p = append(p, v...)
			}
		}
	}
	return answer(b.command(p))
}

// testBulk sends MariaDB's COM_STMT_BULK_EXECUTE with a raw client, the
// same script straight to a MariaDB 10.11 (the unsharded keyspace's
// mysqld) and through the gate to a table sharded over two shards, and
// compares the answers line by line: OK packets (rows affected, ids,
// info), errors, and the rows the batches left, among them a batch whose
// duplicate key in the middle must leave no row (the rows reach both
// shards), in and out of a transaction, and an UPDATE batch that stops at
// its failing row.
func testBulk(t *testing.T, c *cluster.Cluster) {
	direct := c.OpenRootOverTCP(t, "commerce", "0")
	commerceDB := c.Shards["commerce"]["0"].Primary().DBName
	// bk is sharded by id through the gate; bkai (an AUTO_INCREMENT
	// id) is in the unsharded keyspace, which is the direct mysqld's
	// database: each side has its own.
	run := func(addr, db, aiDB, aiTable string) []string {
		b := dialBulk(t, addr, db)
		if b.caps&mysql.CLIENT_LONG_PASSWORD != 0 || b.ext&extBulk == 0 {
			t.Fatalf("%s does not offer bulk operations: caps %#x, extended %#x", addr, b.caps, b.ext)
		}
		var out []string
		line := func(what, got string) { out = append(out, what+": "+got) }
		b.query("drop table if exists bk")
		line("create", b.query("create table bk (id bigint primary key, v varchar(20) default 'dflt', n tinyint default 7)"))
		ll, vs := byte(mysql.MYSQL_TYPE_LONGLONG), byte(mysql.MYSQL_TYPE_VAR_STRING)
		ins := b.prepare("insert into bk (id, v, n) values (?, ?, ?)")
		var rows [][]any
		for i := 1; i <= 40; i++ {
			switch i % 4 {
			case 0:
				rows = append(rows, []any{i, fmt.Sprintf("v%d", i), i})
			case 1:
				rows = append(rows, []any{i, nil, bulkDefault})
			case 2:
				rows = append(rows, []any{i, bulkIgnore, nil})
			case 3:
				rows = append(rows, []any{i, "", -i})
			}
		}
		line("insert 40", b.bulk(ins, 0, true, []byte{ll, vs, ll}, rows...))
		line("rows", b.query("select * from bk order by id"))
		line("row_count", b.query("select row_count()"))
		line("dup in the middle", b.bulk(ins, 0, true, []byte{ll, vs, ll}, []any{41, "a", 1}, []any{42, "b", 2}, []any{7, "dup", 3}, []any{43, "c", 4}))
		line("after dup", b.query("select count(*), sum(id) from bk"))
		line("types kept", b.bulk(ins, 0, false, nil, []any{44, "kept", 44}))
		line("begin", b.query("begin"))
		line("in tx", b.bulk(ins, 0, true, []byte{ll, vs, ll}, []any{50, "t", 50}, []any{51, "t", 51}))
		line("dup in tx", b.bulk(ins, 0, true, []byte{ll, vs, ll}, []any{52, "t", 52}, []any{53, "t", 53}, []any{50, "dup", 0}))
		line("rows in tx", b.query("select id from bk where id >= 50 order by id"))
		line("commit", b.query("commit"))
		line("rows after commit", b.query("select id from bk where id >= 44 order by id"))
		upd := b.prepare("update bk set n = ? where id = ?")
		line("update stops", b.bulk(upd, 0, true, []byte{ll, ll}, []any{100, 1}, []any{101, 2}, []any{1000, 3}, []any{102, 4}))
		line("after update", b.query("select id, n from bk where id <= 4 order by id"))
		line("update", b.bulk(upd, 0, true, []byte{ll, ll}, []any{11, 1}, []any{12, 2}, []any{12, 2}, []any{0, 999}))
		del := b.prepare("delete from bk where id = ?")
		line("delete", b.bulk(del, 0, true, []byte{ll}, []any{1}, []any{2}, []any{999}))
		upd2 := b.prepare("update bk set v = ?, n = ? where id = ?")
		line("update with DEFAULT and IGNORE", b.bulk(upd2, 0, true, []byte{vs, ll, ll},
			[]any{bulkDefault, 9, 5}, []any{"w", bulkIgnore, 6}, []any{bulkIgnore, bulkDefault, 7}))
		line("after", b.query("select * from bk where id between 5 and 7 order by id"))
		rep := b.prepare("replace into bk (id, v, n) values (?, ?, ?)")
		line("replace", b.bulk(rep, 0, true, []byte{ll, vs, ll}, []any{3, "r", 3}, []any{4, "r", 4}, []any{60, "r", 60}))
		odku := b.prepare("insert into bk (id, v, n) values (?, ?, ?) on duplicate key update v = ?")
		line("odku", b.bulk(odku, 0, true, []byte{ll, vs, ll, vs}, []any{5, "x", 5, "o5"}, []any{61, "x", 61, "o61"}))
		line("rows", b.query("select * from bk order by id"))
		sel := b.prepare("select ? from bk")
		line("select refused", b.bulk(sel, 0, true, []byte{ll}, []any{1}))
		line("unit results refused", b.bulk(ins, 64, true, []byte{ll, vs, ll}, []any{70, "u", 70}))
		line("default in an expression", b.bulk(b.prepare("insert into bk (id, n) values (?, ? + 1)"), 0, true, []byte{ll, ll}, []any{71, bulkDefault}))
		line("bad row", b.bulk(ins, 0, true, []byte{ll, vs, ll}, []any{72, "x"}))
		var many [][]any
		for i := 100; i < 600; i++ {
			many = append(many, []any{i, strings.Repeat("m", i%20), i % 100})
		}
		line("insert 500", b.bulk(ins, 0, true, []byte{ll, vs, ll}, many...))
		line("total", b.query("select count(*), sum(id), sum(n), sum(length(v)) from bk"))
		// Batches bigger than the gate's chunks (16384 values): 20000
		// rows, then 20000 whose last row is a duplicate, which must
		// leave none of them.
		var big, bigDup [][]any
		for i := 1000; i < 21000; i++ {
			big = append(big, []any{i, fmt.Sprintf("b%d", i), i % 128})
			bigDup = append(bigDup, []any{i + 100000, "d", 1})
		}
		bigDup[len(bigDup)-1] = []any{1000, "dup", 1}
		line("insert 20000", b.bulk(ins, 0, true, []byte{ll, vs, ll}, big...))
		line("insert 20000, the last a duplicate", b.bulk(ins, 0, true, []byte{ll, vs, ll}, bigDup...))
		line("total", b.query("select count(*), sum(id), sum(n), sum(length(v)) from bk"))
		// Generated ids: the first of the batch, as a multi-row INSERT.
		b = dialBulk(t, addr, aiDB)
		b.query("drop table if exists " + aiTable)
		b.query("create table " + aiTable + " (id bigint primary key auto_increment, v int)")
		ai := b.prepare("insert into " + aiTable + " (v) values (?)")
		line("auto_increment", b.bulk(ai, 0, true, []byte{ll}, []any{1}, []any{2}, []any{3}))
		line("auto_increment again", b.bulk(ai, 0, true, []byte{ll}, []any{4}, []any{5}))
		line("last_insert_id", b.query("select last_insert_id()"))
		return out
	}
	t.Cleanup(func() {
		b := dialBulk(t, direct, commerceDB)
		b.query("drop table if exists bk")
		b.query("drop table if exists bkai_direct")
		b.query("drop table if exists bkai_gate")
		dialBulk(t, c.GateAddr, "customer").query("drop table if exists bk")
	})
	want := run(direct, commerceDB, commerceDB, "bkai_direct")
	got := run(c.GateAddr, "customer", "commerce", "bkai_gate")
	for i := range max(len(want), len(got)) {
		var w, g string
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g {
			t.Errorf("line %d:\n  gate:    %s\n  mariadb: %s", i+1, g, w)
		}
	}
	// Inside a transaction, a batch bigger than one of the gate's chunks
	// that fails after its first chunks ran cannot be undone alone: the
	// gate rolls the transaction back and says so (MariaDB undoes the
	// statement alone; docs/compatibility.md).
	b := dialBulk(t, c.GateAddr, "customer")
	ins := b.prepare("insert into bk (id, v, n) values (?, ?, ?)")
	b.query("begin")
	b.query("insert into bk (id) values (900000)")
	var rows [][]any
	for i := range 20000 {
		rows = append(rows, []any{200000 + i, "tx", 1})
	}
	rows[len(rows)-1] = []any{1000, "dup", 1}
	ll, vs := byte(mysql.MYSQL_TYPE_LONGLONG), byte(mysql.MYSQL_TYPE_VAR_STRING)
	if got := b.bulk(ins, 0, true, []byte{ll, vs, ll}, rows...); !strings.HasPrefix(got, "ERR 1062 ") || !strings.Contains(got, "the transaction was rolled back") {
		t.Errorf("a big batch failing in a transaction: %s", got)
	}
	if got := b.query("select @@in_transaction, (select count(*) from bk where id = 900000 or id >= 200000)"); got != "0,0" {
		t.Errorf("after the failed batch, in transaction and rows left: %s", got)
	}

	// The batches went to both shards, one INSERT for each.
	total := 0
	for _, shard := range []string{"-80", "80-"} {
		db, err := sql.Open("mysql", c.DirectDSN("customer", shard))
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.QueryRow("select count(*) from bk").Scan(&n); err != nil {
			t.Fatal(err)
		}
		db.Close()
		if n == 0 {
			t.Errorf("shard %s has no rows of bk", shard)
		}
		total += n
	}
	t.Logf("rows on the two shards: %d; the gate's transcript:\n%s", total, strings.Join(got, "\n"))
}
