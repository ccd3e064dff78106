package proxy

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proxy/mysqlsrv"
	"github.com/mosaicdb/mosaic/recovered"
	"github.com/mosaicdb/mosaic/router/loaddata"
	"github.com/mosaicdb/mosaic/sqlerr"
	"github.com/mosaicdb/mosaic/topo"
	"github.com/mosaicdb/mosaic/topo/memstore"
)

// Fuzz targets of the gate's protocol decoders: whatever a client sends,
// a decoder returns a value or a MySQL error, and never panics or reads
// past what it was given. Their seed corpora (testdata/fuzz) run in every
// `go test`; `make fuzz` fuzzes each for FUZZTIME.

// allCaps are the capabilities a client may announce that change how the
// connection phase's packets read.
const allCaps = mysql.CLIENT_PROTOCOL_41 | mysql.CLIENT_SECURE_CONNECTION | mysql.CLIENT_PLUGIN_AUTH |
	mysql.CLIENT_CONNECT_WITH_DB | mysql.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA | mysql.CLIENT_CONNECT_ATTRS

// within says whether sub is a slice of b's memory (or empty).
func within(sub, b []byte) bool {
	if len(sub) == 0 {
		return true
	}
	for i := range b {
		if &b[i] == &sub[0] {
			return i+len(sub) <= len(b)
		}
	}
	return false
}

func FuzzHandshakeResponse(f *testing.F) {
	pair := mysqlsrv.AppendLenEncString(mysqlsrv.AppendLenEncString(nil, "_client_name"), "libmariadb")
	attrs := append(mysqlsrv.AppendLenEncInt(nil, uint64(len(pair))), pair...)
	f.Add(responsePacket(allCaps, []byte("app\x00"), []byte{3, 1, 2, 3}, []byte("ks\x00"), []byte("mysql_native_password\x00"), attrs))
	f.Add(responsePacket(allCaps&^mysql.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA, []byte("app\x00"), []byte{20}, make([]byte, 20), []byte("\x00caching_sha2_password")))
	f.Add(responsePacket(allCaps, []byte("app\x00"), []byte{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}))
	f.Add(responsePacket(allCaps, []byte("app\x00"), []byte{0xfc, 0x01}))
	f.Add(responsePacket(allCaps, []byte("app\x00\x00ks\x00p\x00"), []byte{0xfe}))
	f.Add(responsePacket(mysql.CLIENT_PROTOCOL_41 | mysql.CLIENT_SSL))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, _, err := parseHandshakeResponse(data)
		if err != nil {
			if n := sqlerr.FromError(err).Num; n != sqlerr.ERHandshakeError {
				t.Fatalf("error %d (%v), want 1043", n, err)
			}
			return
		}
		if !within(r.authData, data) {
			t.Fatalf("authentication data %x is not from the packet", r.authData)
		}
	})
}

// executeSeeds are COM_STMT_EXECUTE bodies for a statement of one
// parameter, the first byte of each fuzz input being the parameter count.
func executeSeeds() [][]byte {
	str := mysql.MYSQL_TYPE_VAR_STRING
	return [][]byte{
		executePacket(1, []byte{0}, 1, str, 0, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
		executePacket(1, []byte{0}, 1, str, 0, 0xfe),
		executePacket(1, []byte{0}, 1, str, 0, 0xfc, 0x01),
		executePacket(1, []byte{0}, 1, str, 0, 2, 'h', 'i'),
		executePacket(1, []byte{0}, 1, mysql.MYSQL_TYPE_DATETIME, 0, 11, 0xe8, 0x07, 2, 29, 13, 14, 15, 1, 0, 0, 0),
		executePacket(1, []byte{0}, 1, mysql.MYSQL_TYPE_TIME, 0, 12, 1, 1, 0, 0, 0, 2, 3, 4, 5, 0, 0, 0),
		executePacket(1, []byte{0}, 1, mysql.MYSQL_TYPE_NEWDECIMAL, 0, 4, '1', '.', '2', '5'),
		executePacket(1, []byte{0}, 1, mysql.MYSQL_TYPE_LONGLONG, 0x80, 1, 2, 3, 4, 5, 6, 7, 8),
		executePacket(1, []byte{1}, 1, str, 0),
		executePacket(1, []byte{0}, 2, str, 0, 1, 'a'),
		executePacket(1, []byte{0}, 0, 1, 'a'),
		{1, 0, 0, 0, 0},
	}
}

func FuzzExecuteParams(f *testing.F) {
	for _, s := range executeSeeds() {
		f.Add(byte(1), s)
	}
	f.Add(byte(3), executePacket(1, []byte{0b010}, 1, mysql.MYSQL_TYPE_TINY, 0, mysql.MYSQL_TYPE_BLOB, 0, mysql.MYSQL_TYPE_DOUBLE, 0, 7, 3, 'a', 'b', 'c', 0, 0, 0, 0, 0, 0, 0xf0, 0x3f))
	f.Fuzz(func(t *testing.T, numParams byte, data []byte) {
		st := &preparedStmt{id: 1, numParams: int(numParams)}
		args, err := st.bindArgs(data)
		if err != nil {
			switch n := sqlerr.FromError(err).Num; n {
			case sqlerr.ERMallformedPacket, sqlerr.ERWrongArguments:
			default:
				t.Fatalf("error %d (%v), want 1835 or 1210", n, err)
			}
			return
		}
		if len(args) != int(numParams) {
			t.Fatalf("%d values for %d parameters", len(args), numParams)
		}
	})
}

// fuzzGate is a gate that is not running, over a topology of one
// keyspace (ks) and no tablet: enough for the commands that need none.
func fuzzGate(t testing.TB, configure func(*Config)) *Gate {
	t.Helper()
	cfg := DefaultConfig()
	cfg.MySQLAddr, cfg.HTTPAddr = "127.0.0.1:1", ""
	cfg.Insecure = true // no tablet to reach
	cfg.TabletWait, cfg.BufferWindow = time.Millisecond, 0
	cfg.ConnectTimeout, cfg.NetReadTimeout = 20*time.Millisecond, 20*time.Millisecond
	cfg.MaxAllowedPacket = 1 << 20
	if configure != nil {
		configure(&cfg)
	}
	ts := topo.NewServer(memstore.New())
	if err := ts.CreateKeyspace(context.Background(), "ks", &topodatapb.Keyspace{}); err != nil {
		t.Fatal(err)
	}
	g, err := New(cfg, ts, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// fuzzConn is a connection of g whose client reads and drops every
// answer, with a prepared statement of two parameters (id 1).
func fuzzConn(t testing.TB, g *Gate) *clientConn {
	t.Helper()
	server, client := net.Pipe()
	go io.Copy(io.Discard, client)
	t.Cleanup(func() { server.Close(); client.Close() })
	pc := &mysqlsrv.PacketConn{Conn: mysqlsrv.NewBufConn(server), ReadTimeout: g.cfg.NetReadTimeout}
	cc := &clientConn{g: g, pc: pc, pw: mysqlsrv.NewPacketWriter(pc), connID: 1, remote: "127.0.0.1:9",
		in: mysqlsrv.PacketBuffer{Max: g.cfg.MaxAllowedPacket, Drain: true, Budget: g.mem}, stmts: preparedStmts{budget: g.mem},
		log: slog.New(slog.DiscardHandler), capability: allCaps | mysql.CLIENT_LOCAL_FILES, extCapability: extStmtBulkOperations}
	cc.s = cc.newSession("ks")
	cc.stmts.add(&preparedStmt{sql: "insert into t values (?, ?)", numParams: 2})
	return cc
}

func FuzzSendLongData(f *testing.F) {
	long := func(id uint32, param uint16, data string) []byte {
		b := binary.LittleEndian.AppendUint32(nil, id)
		b = binary.LittleEndian.AppendUint16(b, param)
		return append(b, data...)
	}
	f.Add(long(1, 0, "abc"), long(1, 1, "def"), executePacket(1, []byte{0}, 1, mysql.MYSQL_TYPE_BLOB, 0, mysql.MYSQL_TYPE_VAR_STRING, 0))
	f.Add(long(1, 7, "abc"), long(1, 0, ""), executePacket(1, []byte{0}, 1, mysql.MYSQL_TYPE_BLOB, 0, mysql.MYSQL_TYPE_VAR_STRING, 0, 1, 'x'))
	f.Add([]byte{1, 0}, long(2, 0, "x"), executePacket(1, []byte{0}, 0))
	g := fuzzGate(f, func(c *Config) { c.MaxAllowedPacket = 1024 })
	f.Fuzz(func(t *testing.T, first, second, execute []byte) {
		cc := &clientConn{g: g, stmts: preparedStmts{budget: g.mem}}
		cc.stmts.add(&preparedStmt{sql: "insert into t values (?, ?)", numParams: 2})
		cc.handleSendLongData(first)
		cc.handleSendLongData(second)
		st := cc.stmts.get(1)
		if st.longDataSize > cc.g.cfg.MaxAllowedPacket {
			t.Fatalf("%d bytes of long data kept past max_allowed_packet", st.longDataSize)
		}
		if _, err := st.bindArgs(execute); err != nil {
			switch n := sqlerr.FromError(err).Num; n {
			case sqlerr.ERMallformedPacket, sqlerr.ERWrongArguments, sqlerr.ERNetPacketTooLarge:
			default:
				t.Fatalf("error %d (%v)", n, err)
			}
		}
		cc.stmts.closeAll()
		if u := cc.g.mem.used.Load(); u != 0 {
			t.Fatalf("%d bytes of the memory budget kept after the statements closed", u)
		}
	})
}

func FuzzChangeUser(f *testing.F) {
	pair := mysqlsrv.AppendLenEncString(mysqlsrv.AppendLenEncString(nil, "_os"), "Linux")
	attrs := append(mysqlsrv.AppendLenEncInt(nil, uint64(len(pair))), pair...)
	f.Add(uint32(allCaps), append([]byte("bob\x00\x03abcks\x00\x2d\x00caching_sha2_password\x00"), attrs...))
	f.Add(uint32(allCaps), []byte("bob\x00\x14ab"))
	f.Add(uint32(allCaps), append([]byte("bob\x00\x00\x00\x2d\x00mysql_native_password\x00"), 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff))
	f.Add(uint32(mysql.CLIENT_PROTOCOL_41), []byte("bob\x00secret\x00ks\x00"))
	f.Fuzz(func(t *testing.T, caps uint32, data []byte) {
		r, err := parseChangeUser(data, caps)
		if err != nil {
			if n := sqlerr.FromError(err).Num; n != sqlerr.ERUnknownCom {
				t.Fatalf("error %d (%v), want 1047", n, err)
			}
			return
		}
		if !within(r.user, data) || !within(r.authData, data) || !within(r.db, data) {
			t.Fatalf("parsed %+v from outside the packet", r)
		}
	})
}

// packets frames payloads as a client sends them, from sequence seq.
func packets(seq byte, payloads ...[]byte) []byte {
	var b []byte
	for _, p := range payloads {
		b = append(b, header(len(p), seq)...)
		b = append(b, p...)
		seq++
	}
	return b
}

// streamConn is a net.Conn that reads a fixed stream and then EOF.
type streamConn struct {
	net.Conn
	r io.Reader
}

func (s *streamConn) Read(b []byte) (int, error)         { return s.r.Read(b) }
func (s *streamConn) SetReadDeadline(time.Time) error    { return nil }
func (s *streamConn) Close() error                       { return nil }
func (s *streamConn) Write(b []byte) (int, error)        { return len(b), nil }
func (s *streamConn) RemoteAddr() net.Addr               { return &net.TCPAddr{} }
func (s *streamConn) SetDeadline(time.Time) error        { return nil }
func (s *streamConn) SetWriteDeadline(t time.Time) error { return nil }

// FuzzLoadDataPackets reads a LOAD DATA LOCAL file as the client sends
// it (packets up to an empty one), row by row as the gate does for a
// sharded table, from any bytes: it ends with the rows or an error, in
// bounded memory.
func FuzzLoadDataPackets(f *testing.F) {
	f.Add(packets(2, []byte("1\tone\n2\ttwo\n"), nil), false)
	f.Add(packets(2, []byte("1\t\"a,b\"\r\n"), []byte("2\tx\\\ty\n"), nil), true)
	f.Add(packets(2, []byte("1\tone"), []byte("\n"), nil), false)
	f.Add(append(header(1<<24-1, 2), 'x'), false)
	f.Add(packets(5, []byte("1\n"), nil), false)
	f.Add(packets(2, bytes.Repeat([]byte("\\"), 300), nil), true)
	g := fuzzGate(f, nil)
	f.Fuzz(func(t *testing.T, stream []byte, csv bool) {
		cc := &clientConn{g: g, pc: &mysqlsrv.PacketConn{Conn: mysqlsrv.NewBufConn(&streamConn{r: bytes.NewReader(stream)}), Seq: 2},
			in: mysqlsrv.PacketBuffer{Max: g.cfg.MaxAllowedPacket, Drain: true, Budget: g.mem}}
		format := loaddata.DefaultFormat()
		if csv {
			format = loaddata.Format{FieldTerm: ",", Enclosed: '"', HasEnclosed: true, Escape: '\\', HasEscape: true, LineTerm: "\r\n"}
		}
		file := &clientFile{cc: cc}
		r := loaddata.NewReader(file, format)
		for range len(stream) + 2 {
			if _, err := r.Next(); err != nil {
				break
			}
		}
		if err := file.drain(); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) &&
			!errors.Is(err, mysqlsrv.ErrPacketTooLarge) && !errors.Is(err, mysqlsrv.ErrPacketsOutOfOrder) {
			t.Fatalf("drain: %v", err)
		}
		if c := cap(cc.in.B); c > cc.g.cfg.MaxAllowedPacket {
			t.Fatalf("a buffer of %d bytes past max_allowed_packet", c)
		}
	})
}

// FuzzDispatch answers any command with any body on a connection, as the
// command loop does: it answers or fails the command, and never panics.
func FuzzDispatch(f *testing.F) {
	for _, s := range executeSeeds() {
		f.Add(append([]byte{mysql.COM_STMT_EXECUTE}, s...))
	}
	for _, c := range [][]byte{
		{mysql.COM_PING}, {mysql.COM_QUIT}, {mysql.COM_INIT_DB}, {mysql.COM_INIT_DB, 'k', 's'},
		{mysql.COM_QUERY}, append([]byte{mysql.COM_QUERY}, "select 1; select 2"...), append([]byte{mysql.COM_QUERY}, "set @a = 1"...),
		{mysql.COM_FIELD_LIST}, {mysql.COM_FIELD_LIST, 't', 0, '%'}, {mysql.COM_STATISTICS}, {mysql.COM_SET_OPTION, 1},
		{mysql.COM_SET_OPTION, 0, 0}, {mysql.COM_RESET_CONNECTION}, {mysql.COM_CHANGE_USER}, append([]byte{mysql.COM_CHANGE_USER}, "root\x00\x00\x00"...),
		{mysql.COM_PROCESS_KILL, 1}, {mysql.COM_PROCESS_KILL, 1, 0, 0, 0}, append([]byte{mysql.COM_STMT_PREPARE}, "insert into t values (?)"...),
		{mysql.COM_STMT_SEND_LONG_DATA, 1, 0, 0, 0, 0, 0, 'x'}, {mysql.COM_STMT_RESET, 1}, {mysql.COM_STMT_RESET, 1, 0, 0, 0},
		{mysql.COM_STMT_CLOSE, 1, 0, 0, 0}, {mysql.COM_STMT_FETCH, 1, 0, 0, 0, 1, 0, 0, 0}, {0xff}, {0},
		{0xfa, 1, 0, 0, 0, 0x80, 0, mysql.MYSQL_TYPE_LONGLONG, 0, mysql.MYSQL_TYPE_VAR_STRING, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 'x', 1, 2},
		{0xfa, 1, 0, 0, 0, 0, 0, 1, 3}, {0xfa, 1, 0, 0, 0, 0x40, 0},
	} {
		f.Add(c)
	}
	g := fuzzGate(f, nil)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		cc := fuzzConn(t, g)
		if p := recovered.Catch(func() { cc.dispatch(context.Background(), data[0], data[1:]) }); p != nil {
			t.Fatalf("command % .20x panicked: %v\n%s", data, p.Value, p.Stack)
		}
	})
}
