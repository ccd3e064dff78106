package proxy

import (
	"encoding/binary"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/mosaicdb/mosaic/proxy/mysqlsrv"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// rawCommand sends one command packet (split as the protocol wants when
// big) and, unless quiet, returns the first packet of the answer.
func rawCommand(t *testing.T, c net.Conn, payload []byte, quiet bool) []byte {
	t.Helper()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	defer c.SetDeadline(time.Time{})
	seq := byte(0)
	for {
		n := min(len(payload), mysqlsrv.MaxPayload)
		if _, err := c.Write(append(header(n, seq), payload[:n]...)); err != nil {
			t.Fatal(err)
		}
		seq++
		payload = payload[n:]
		if n < mysqlsrv.MaxPayload {
			break
		}
	}
	if quiet {
		return nil
	}
	b, err := readRaw(c)
	if err != nil {
		t.Fatalf("answer: %v", err)
	}
	return b
}

// drainAnswer reads the rest of a result set (after its first packet) up
// to its final EOF, or nothing after an OK or ERR.
func drainAnswer(t *testing.T, c net.Conn, first []byte) {
	t.Helper()
	if len(first) == 0 || first[0] == 0 || first[0] == 0xff {
		return
	}
	for eofs := 0; eofs < 2; {
		b, err := readRaw(c)
		if err != nil {
			t.Fatal(err)
		}
		if b[0] == 0xfe && len(b) < 9 {
			eofs++
		}
	}
}

func TestMemoryBudget(t *testing.T) {
	tg := startTestGate(t, func(c *Config) {
		c.MaxMemoryInFlight = 8 << 20
		c.MaxAllowedPacket = 16 << 20
	})
	used := func() int64 { return tg.g.mem.used.Load() }
	holder := rawLogin(t, tg.addr)
	other := rawLogin(t, tg.addr)

	// The holder keeps 2 MB of long data for a prepared statement.
	if b := rawCommand(t, holder, append([]byte{mysql.COM_INIT_DB}, "ks"...), false); b[0] != 0 {
		t.Fatalf("USE ks: % x", b)
	}
	prep := rawCommand(t, holder, append([]byte{mysql.COM_STMT_PREPARE}, "insert into t values (?)"...), false)
	if prep[0] != 0 {
		t.Fatalf("prepare: % x", prep)
	}
	id := binary.LittleEndian.Uint32(prep[1:])
	cols, params := binary.LittleEndian.Uint16(prep[5:]), binary.LittleEndian.Uint16(prep[7:])
	if params != 1 {
		t.Fatalf("prepared with %d parameters", params)
	}
	holder.SetReadDeadline(time.Now().Add(10 * time.Second))
	for range int(params) + 1 + int(cols) + min(int(cols), 1) { // definitions, their EOFs
		if _, err := readRaw(holder); err != nil {
			t.Fatal(err)
		}
	}
	holder.SetReadDeadline(time.Time{})
	long := binary.LittleEndian.AppendUint32([]byte{mysql.COM_STMT_SEND_LONG_DATA}, id)
	long = append(long, 0, 0)
	long = append(long, strings.Repeat("x", 2<<20)...)
	rawCommand(t, holder, long, true)
	waitFor(t, 10*time.Second, "the long data to be charged", func() bool { return used() >= 2<<20 })

	// Another client's 7 MB statement does not fit beside it: refused
	// with 1041, and its connection goes on.
	big := append([]byte{mysql.COM_QUERY}, "select '"...)
	big = append(big, strings.Repeat("y", 7<<20)...)
	big = append(big, '\'')
	if b := rawCommand(t, other, big, false); errCode(b) != sqlerr.EROutOfResources {
		t.Fatalf("a statement past the budget: % .40x", b)
	}
	if b := rawCommand(t, other, []byte{mysql.COM_PING}, false); b[0] != 0 {
		t.Fatalf("PING after the refusal: % x", b)
	}

	// Once the holder lets go, a big statement fits.
	rawCommand(t, holder, binary.LittleEndian.AppendUint32([]byte{mysql.COM_STMT_CLOSE}, id), true)
	if b := rawCommand(t, holder, []byte{mysql.COM_PING}, false); b[0] != 0 {
		t.Fatalf("PING: % x", b)
	}
	waitFor(t, 10*time.Second, "the long data to be released", func() bool { return used() == 0 })
	// (The packet's buffers, 4 MiB in all, and the statement's text,
	// 2 MB, fit in 8 MiB.)
	mid := append([]byte{mysql.COM_QUERY}, "select '"...)
	mid = append(mid, strings.Repeat("y", 2<<20)...)
	mid = append(mid, '\'')
	b := rawCommand(t, other, mid, false)
	if errCode(b) == sqlerr.EROutOfResources {
		t.Fatalf("refused with the budget free: %s", b[3:])
	}
	drainAnswer(t, other, b)

	// A statement whose parse would take more than the budget is refused
	// before the parser runs, though its packet fits.
	flat := append([]byte{mysql.COM_QUERY}, "select 1 from t where id in ("...)
	flat = append(flat, strings.Repeat("1,", 200000)...)
	flat = append(flat, "1)"...)
	if b := rawCommand(t, other, flat, false); errCode(b) != sqlerr.EROutOfResources {
		t.Fatalf("a parse past the budget: % .40x", b)
	}
	if b := rawCommand(t, other, []byte{mysql.COM_PING}, false); b[0] != 0 {
		t.Fatalf("PING after the refusal: % x", b)
	}

	// What connections hold is given back when they go.
	rawCommand(t, holder, long[:7+1000], true) // long data for an unknown statement: nothing held
	holder.Close()
	other.Close()
	waitFor(t, 10*time.Second, "the budget to be free", func() bool { return used() == 0 })
	if metricValue(t, tg.g.mem.refused) != 2 {
		t.Fatalf("refusals counted: %v", metricValue(t, tg.g.mem.refused))
	}
}

// A COM_STMT_SEND_LONG_DATA packet the budget cannot spare has no answer
// (the client reads none): the refusal is the next execution's error, as
// mysqld reports long data errors, and the connection stays in step.
func TestMemoryBudgetLongDataPacket(t *testing.T) {
	tg := startTestGate(t, func(c *Config) {
		c.MaxMemoryInFlight = 1 << 20
		c.MaxAllowedPacket = 16 << 20
	})
	c := rawLogin(t, tg.addr)
	if b := rawCommand(t, c, append([]byte{mysql.COM_INIT_DB}, "ks"...), false); b[0] != 0 {
		t.Fatalf("USE ks: % x", b)
	}
	prep := rawCommand(t, c, append([]byte{mysql.COM_STMT_PREPARE}, "insert into t values (?)"...), false)
	if prep[0] != 0 {
		t.Fatalf("prepare: % x", prep)
	}
	id := binary.LittleEndian.Uint32(prep[1:])
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for range 2 { // the parameter's definition and its EOF
		if _, err := readRaw(c); err != nil {
			t.Fatal(err)
		}
	}
	c.SetReadDeadline(time.Time{})
	long := binary.LittleEndian.AppendUint32([]byte{mysql.COM_STMT_SEND_LONG_DATA}, id)
	long = append(long, 0, 0)
	long = append(long, strings.Repeat("x", 3<<20)...)
	rawCommand(t, c, long, true)
	exec := binary.LittleEndian.AppendUint32([]byte{mysql.COM_STMT_EXECUTE}, id)
	exec = append(exec, 0, 1, 0, 0, 0, 0, 1, mysql.MYSQL_TYPE_BLOB, 0)
	if b := rawCommand(t, c, exec, false); errCode(b) != sqlerr.EROutOfResources {
		t.Fatalf("the execution after refused long data: % .40x", b)
	}
	if b := rawCommand(t, c, []byte{mysql.COM_PING}, false); b[0] != 0 {
		t.Fatalf("PING: % x", b)
	}
	waitFor(t, 10*time.Second, "the budget to be free", func() bool { return tg.g.mem.used.Load() == 0 })
}
