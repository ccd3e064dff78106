package e2e

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/mosaicdb/mosaic/e2e/cluster"
)

// columnDef describes a column definition packet: name, type, length.
func columnDef(d []byte) string {
	var s [6]string
	for i := range s {
		l, r := lenEnc(d)
		s[i], d = string(r[:l]), r[l:]
	}
	d = d[1:]
	return fmt.Sprintf("%s:%d:%d", s[4], d[6], binary.LittleEndian.Uint32(d[2:]))
}

// cachingClient is a client with MARIADB_CLIENT_CACHE_METADATA: it keeps
// each prepared statement's result columns, from the prepare response
// and from each execution that sends them, and uses them for the
// executions that do not.
type cachingClient struct {
	*bulkConn
	cols map[uint32]string
	// sent and skipped count the executions that sent the definitions
	// and those that did not.
	sent, skipped int
}

func (b *cachingClient) prepare(sql string) uint32 {
	p := b.command(append([]byte{mysql.COM_STMT_PREPARE}, sql...))
	if p[0] != 0 {
		b.t.Fatalf("prepare %s: %s", sql, answer(p))
	}
	id := binary.LittleEndian.Uint32(p[1:])
	cols, params := binary.LittleEndian.Uint16(p[5:]), binary.LittleEndian.Uint16(p[7:])
	if params > 0 {
		for range int(params) + 1 {
			b.read()
		}
	}
	var defs []string
	for range cols {
		defs = append(defs, columnDef(b.read()))
	}
	if cols > 0 {
		b.read()
	}
	b.cols[id] = strings.Join(defs, ",")
	return id
}

// execute runs COM_STMT_EXECUTE with BIGINT parameters and describes the
// answer by the columns the client uses (sent, or those it holds) and the
// rows.
func (b *cachingClient) execute(id uint32, args ...int) string {
	p := []byte{mysql.COM_STMT_EXECUTE}
	p = binary.LittleEndian.AppendUint32(p, id)
	p = append(p, 0, 1, 0, 0, 0)
	if len(args) > 0 {
		p = append(p, make([]byte, (len(args)+7)/8)...)
		p = append(p, 1)
		for range args {
			p = append(p, mysql.MYSQL_TYPE_LONGLONG, 0)
		}
		for _, a := range args {
			p = binary.LittleEndian.AppendUint64(p, uint64(a))
		}
	}
	// One result set, or a CALL's several and its OK.
	var results []string
	for next := b.command(p); ; next = b.read() {
		if next[0] == 0 || next[0] == 0xff {
			return strings.Join(append(results, answer(next)), " | ")
		}
		res, more := b.resultSet(id, next)
		results = append(results, res)
		if !more {
			return strings.Join(results, " | ")
		}
	}
}

// resultSet reads the rest of a binary result set whose column count
// packet is first, and describes it. more says another result follows.
func (b *cachingClient) resultSet(id uint32, first []byte) (desc string, more bool) {
	n, rest := lenEnc(first)
	if len(rest) != 1 {
		return fmt.Sprintf("column count packet % x", first), false
	}
	cols := b.cols[id]
	switch rest[0] {
	case 1:
		var defs []string
		for range n {
			defs = append(defs, columnDef(b.read()))
		}
		cols = strings.Join(defs, ",")
		b.sent++
	case 0:
		b.skipped++
	default:
		return fmt.Sprintf("metadata follows = %d", rest[0]), false
	}
	if eof := b.read(); eof[0] != 0xfe {
		return fmt.Sprintf("% x where the EOF goes", eof), false
	}
	rows := 0
	for {
		r := b.read()
		if r[0] == 0xfe && len(r) < 9 {
			more = binary.LittleEndian.Uint16(r[3:])&8 != 0
			break
		}
		if r[0] == 0xff {
			return answer(r), false
		}
		rows++
	}
	if rest[0] == 1 && !more {
		// The statement's own result set: the client holds its
		// columns from now on.
		b.cols[id] = cols
	}
	return fmt.Sprintf("%d columns %s, %d rows", n, cols, rows), more
}

// testCacheMetadata runs prepared SELECTs for a client with
// MARIADB_CLIENT_CACHE_METADATA straight on MariaDB 10.11 and through the
// gate on a sharded table, and compares the columns the client uses for
// each result: those sent, or those it holds when they are not. ALTER
// TABLE changes them between executions. MariaDB sends them again after
// any ALTER of the table (it prepares the statement again); the gate when
// they differ from those the client holds, so it may send them less often
// (the client then uses the same ones), never more rarely than they
// change.
func testCacheMetadata(t *testing.T, c *cluster.Cluster) {
	direct := c.OpenRootOverTCP(t, "commerce", "0")
	commerceDB := c.Shards["commerce"]["0"].Primary().DBName
	run := func(addr, db, procDB string) ([]string, *cachingClient) {
		b := &cachingClient{bulkConn: dialBulk(t, addr, db), cols: map[uint32]string{}}
		if b.ext&extCacheMeta == 0 {
			t.Fatalf("%s does not offer MARIADB_CLIENT_CACHE_METADATA: %#x", addr, b.ext)
		}
		var out []string
		line := func(what, got string) { out = append(out, what+": "+got) }
		b.query("drop table if exists cm")
		line("create", b.query("create table cm (id bigint primary key, v varchar(20))"))
		line("insert", b.query("insert into cm values (1, 'a'), (2, 'b'), (3, 'c')"))
		one := b.prepare("select id, v from cm where id = ?")
		star := b.prepare("select * from cm where id >= ? order by id")
		line("one", b.execute(one, 1))
		line("one again", b.execute(one, 2))
		line("star", b.execute(star, 1))
		line("alter", b.query("alter table cm modify v varchar(50)"))
		line("one after alter", b.execute(one, 3))
		line("one again", b.execute(one, 1))
		line("add column", b.query("alter table cm add column w int default 7"))
		line("star after add", b.execute(star, 2))
		line("star again", b.execute(star, 1))
		line("one after add", b.execute(one, 1))
		// A CALL's result sets carry their columns every time, as on
		// MariaDB (the procedure is in the unsharded keyspace).
		p := &cachingClient{bulkConn: dialBulk(t, addr, procDB), cols: map[uint32]string{}}
		p.query("drop procedure if exists cmproc")
		p.query("create procedure cmproc(in a int) begin select a as x; select a + 1 as y, 2 as z; end")
		call := p.prepare("call cmproc(?)")
		line("call", p.execute(call, 5))
		line("call again", p.execute(call, 6))
		p.query("drop procedure if exists cmproc")
		return out, b
	}
	t.Cleanup(func() {
		dialBulk(t, direct, commerceDB).query("drop table if exists cm")
		dialBulk(t, c.GateAddr, "customer").query("drop table if exists cm")
	})
	want, _ := run(direct, commerceDB, commerceDB)
	got, gate := run(c.GateAddr, "customer", "commerce")
	// The definitions changed twice, so they went twice at least; the
	// other executions went without.
	if gate.sent < 2 || gate.skipped == 0 {
		t.Errorf("the gate sent the column definitions in %d executions and left them out of %d", gate.sent, gate.skipped)
	}
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
	t.Logf("the gate sent the column definitions in %d executions and left them out of %d; its transcript:\n%s", gate.sent, gate.skipped, strings.Join(got, "\n"))
}
