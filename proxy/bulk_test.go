package proxy

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// greetingCaps reads a greeting's capability flags and the four bytes
// after its filler.
func greetingCaps(t *testing.T, g []byte) (caps, ext uint32) {
	t.Helper()
	i := bytes.IndexByte(g, 0)
	if g[0] != 10 || i < 0 || len(g) < i+1+4+8+1+2+1+2+2+1+10 {
		t.Fatalf("greeting % x", g)
	}
	p := g[i+1+4+8+1:]
	caps = uint32(binary.LittleEndian.Uint16(p))
	caps |= uint32(binary.LittleEndian.Uint16(p[5:])) << 16
	filler := p[8 : 8+6]
	if !bytes.Equal(filler, make([]byte, 6)) {
		t.Fatalf("filler % x", filler)
	}
	return caps, binary.LittleEndian.Uint32(p[14:])
}

// The greeting says MariaDB: bit 0 clear, and the extended capabilities
// where MySQL has filler: COM_STMT_BULK_EXECUTE and the caching of column definitions.
func TestGreetingOffersMariaDBCapabilities(t *testing.T) {
	tg := startTestGate(t, nil)
	c, err := net.Dial("tcp", tg.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	g, err := readRaw(c)
	if err != nil {
		t.Fatal(err)
	}
	caps, ext := greetingCaps(t, g)
	if caps&mysql.CLIENT_LONG_PASSWORD != 0 {
		t.Errorf("bit 0 (CLIENT_MYSQL) set: %#x", caps)
	}
	if caps != serverCapabilities {
		t.Errorf("capabilities %#x, want %#x", caps, serverCapabilities)
	}
	if ext != extStmtBulkOperations|extCacheMetadata || ext&extBulkUnitResults != 0 {
		t.Errorf("extended capabilities %#x, want %#x", ext, extStmtBulkOperations|extCacheMetadata)
	}
}

// rawLoginExt logs in as root with a raw socket as a MariaDB client with
// extended capabilities ext (bit 0 clear), or as a MySQL client (bit 0
// set, ext sent anyway where MySQL has filler, which must be ignored).
func rawLoginExt(t *testing.T, addr string, mariadb bool, ext uint32) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := readRaw(c); err != nil {
		t.Fatalf("greeting: %v", err)
	}
	caps := uint32(mysql.CLIENT_PROTOCOL_41 | mysql.CLIENT_SECURE_CONNECTION | mysql.CLIENT_PLUGIN_AUTH | mysql.CLIENT_CONNECT_WITH_DB)
	if !mariadb {
		caps |= mysql.CLIENT_LONG_PASSWORD
	}
	b := binary.LittleEndian.AppendUint32(nil, caps)
	b = binary.LittleEndian.AppendUint32(b, 1<<24)
	b = append(b, 45)
	b = append(b, make([]byte, 19)...)
	b = binary.LittleEndian.AppendUint32(b, ext)
	b = append(b, "root\x00"...)
	b = append(b, 0) // empty password
	b = append(b, "ks\x00"...)
	b = append(b, "mysql_native_password\x00"...)
	c.Write(append(header(len(b), 1), b...))
	ok, err := readRaw(c)
	if err != nil || len(ok) == 0 || ok[0] != 0 {
		t.Fatalf("login: % x, %v", ok, err)
	}
	return c
}

// command sends one command packet and returns the first packet of the
// answer.
func command(t *testing.T, c net.Conn, payload []byte) []byte {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(append(header(len(payload), 0), payload...)); err != nil {
		t.Fatal(err)
	}
	b, err := readRaw(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// prepareRaw prepares sql and returns its statement id, reading the whole
// answer.
func prepareRaw(t *testing.T, c net.Conn, sql string) uint32 {
	t.Helper()
	b := command(t, c, append([]byte{mysql.COM_STMT_PREPARE}, sql...))
	if len(b) < 12 || b[0] != 0 {
		t.Fatalf("prepare %s: % x", sql, b)
	}
	id := binary.LittleEndian.Uint32(b[1:])
	cols, params := binary.LittleEndian.Uint16(b[5:]), binary.LittleEndian.Uint16(b[7:])
	for _, n := range []uint16{params, cols} {
		if n == 0 {
			continue
		}
		for range int(n) + 1 { // definitions and their EOF
			if _, err := readRaw(c); err != nil {
				t.Fatal(err)
			}
		}
	}
	return id
}

func bulkCmd(id uint32, flags uint16, rest ...[]byte) []byte {
	b := []byte{0xfa}
	b = binary.LittleEndian.AppendUint32(b, id)
	b = binary.LittleEndian.AppendUint16(b, flags)
	for _, r := range rest {
		b = append(b, r...)
	}
	return b
}

// The refusals of COM_STMT_BULK_EXECUTE that come before any statement
// runs, each as MariaDB 10.11 answers the same bytes (e2e/bulk_test.go
// compares the statements that run).
func TestBulkExecuteRefusals(t *testing.T) {
	tg := startTestGate(t, nil)
	c := rawLoginExt(t, tg.addr, true, extStmtBulkOperations|extCacheMetadata)
	ins := prepareRaw(t, c, "insert into t (id, v) values (?, ?)")
	set := prepareRaw(t, c, "set @x = ?")
	none := prepareRaw(t, c, "insert into t (id) values (1)")
	types := []byte{mysql.MYSQL_TYPE_LONGLONG, 0, mysql.MYSQL_TYPE_VAR_STRING, 0}
	for _, tc := range []struct {
		name string
		cmd  []byte
		code uint16
	}{
		{"3 bytes", []byte{0xfa, 1, 0, 0}, 1835},
		{"5 bytes", []byte{0xfa, 1, 0, 0, 0, 0x80}, 1835},
		{"unit results", bulkCmd(999, 64|128), 1295},
		{"unknown flag", bulkCmd(ins, 1|128, types), 1295},
		{"unknown statement", bulkCmd(999, 128), 1243},
		{"types cut short", bulkCmd(ins, 128, types[:3]), 1835},
		{"a SET", bulkCmd(set, 128, types[:2], []byte{1}), 1295},
		{"no parameters", bulkCmd(none, 128), 1295},
		{"no types ever bound", bulkCmd(ins, 0, []byte{1, 1}), 1210},
		{"no rows", bulkCmd(ins, 128, types), 1210},
		{"row cut short", bulkCmd(ins, 128, types, []byte{1, 1, 1}), 1210},
		{"bad indicator", bulkCmd(ins, 128, types, []byte{1, 9}), 1210},
		{"value cut short", bulkCmd(ins, 128, types, []byte{0, 1, 2, 1}), 1210},
		{"unknown type", bulkCmd(ins, 128, []byte{100, 0, 100, 0}, []byte{1, 1}), 1210},
	} {
		if got := errCode(command(t, c, tc.cmd)); got != tc.code {
			t.Errorf("%s: error %d, want %d", tc.name, got, tc.code)
		}
	}
	// The connection is still good.
	if b := command(t, c, []byte{mysql.COM_PING}); len(b) == 0 || b[0] != 0 {
		t.Fatalf("ping: % x", b)
	}
	// A MySQL client (bit 0 set) has no extended capabilities, whatever
	// the bytes where MariaDB's go: MariaDB refuses it the command once
	// the packet is long enough.
	m := rawLoginExt(t, tg.addr, false, extStmtBulkOperations)
	id := prepareRaw(t, m, "insert into t (id, v) values (?, ?)")
	if got := errCode(command(t, m, bulkCmd(id, 128, types, []byte{1, 1}))); got != 1295 {
		t.Errorf("MySQL client: error %d, want 1295", got)
	}
	if got := errCode(command(t, m, []byte{0xfa, 1})); got != 1835 {
		t.Errorf("MySQL client, short packet: error %d, want 1835", got)
	}
}
