package mysqlconn

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/sqlerr"
	"github.com/mosaicdb/mosaic/sysconn"
)

// Params say how to reach mysqld.
type Params struct {
	// Addr is a unix socket path (anything containing '/') or host:port.
	Addr     string
	User     string
	Password string
	// DB is the default database; empty for none.
	DB string
	// FoundRows opens the connection with CLIENT_FOUND_ROWS: an UPDATE's
	// affected rows are then the rows it matched, changed or not.
	FoundRows bool
}

// Packet header bytes of the replies COM_QUERY can get.
const (
	okHeader     = 0x00
	eofHeader    = 0xfe
	errHeader    = 0xff
	infileHeader = 0xfb

	comQuery           = 0x03
	comResetConnection = 0x1f
)

// ErrTooManyRows is wrapped by the error Execute returns when a result has
// more rows than its maxRows.
var ErrTooManyRows = errors.New("row count exceeded")

// Conn is one connection to mysqld.
type Conn struct {
	c          *client.Conn
	id         uint32
	queryAttrs bool
	broken     bool

	// scratch holds non-row packets; it is reused packet after packet.
	scratch appendWriter
	cmd     []byte
	// status holds the server status flags of the last OK or EOF packet
	// read: SERVER_MORE_RESULTS_EXISTS there says another result follows.
	status uint16
	// fields caches the column definitions read on this connection by
	// their packet: a statement run again gets the same ones, shared,
	// instead of six allocations per column (see field).
	fields map[string]*querypb.Field
	// infile is LoadData's packet buffer, kept for the connection's next
	// LOAD DATA (the resharding copy runs one per batch).
	infile []byte

	// running is the statement under way and since when, for status
	// pages (Running), which read it from other goroutines.
	runMu   sync.Mutex
	running string
	since   time.Time
}

// Running returns the statement the connection is running, if any.
// Safe to call from any goroutine.
func (c *Conn) Running() (sql string, since time.Time, ok bool) {
	c.runMu.Lock()
	defer c.runMu.Unlock()
	return c.running, c.since, c.running != ""
}

func (c *Conn) setRunning(sql string) {
	c.runMu.Lock()
	c.running = sql
	if sql != "" {
		c.since = time.Now()
	}
	c.runMu.Unlock()
}

// Dial connects and authenticates. ctx bounds the connect and handshake.
func Dial(ctx context.Context, p Params) (*Conn, error) {
	d := &net.Dialer{}
	network := "tcp"
	for i := 0; i < len(p.Addr); i++ {
		if p.Addr[i] == '/' {
			network = "unix"
			break
		}
	}
	// The handshake has no ctx of its own: bound it by the deadline, and
	// cut it when ctx ends (a mysqld that accepts but does not answer).
	stopCut := func() bool { return true }
	dialer := func(ctx context.Context, _, addr string) (net.Conn, error) {
		nc, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		nc = sysconn.Wrap(nc)
		if dl, ok := ctx.Deadline(); ok {
			_ = nc.SetDeadline(dl)
		}
		stopCut = context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Now()) })
		return nc, nil
	}
	collation := func(c *client.Conn) error {
		// LOAD DATA LOCAL INFILE streams the gate's client's file (LoadData).
		c.SetCapability(mysql.CLIENT_LOCAL_FILES)
		// A CALL answers with each result set of its procedure, then an
		// OK (multiresult.go); without this flag mysqld refuses a
		// procedure that returns a result set (error 1312).
		c.SetCapability(mysql.CLIENT_MULTI_RESULTS)
		if p.FoundRows {
			c.SetCapability(mysql.CLIENT_FOUND_ROWS)
		}
		return c.SetCollation("utf8mb4_general_ci")
	}
	c, err := client.ConnectWithDialer(ctx, network, p.Addr, p.User, p.Password, p.DB, dialer, collation)
	cut := !stopCut()
	if err == nil && cut {
		c.Close()
		err = ctx.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("connect to mysqld at %s: %w", p.Addr, unwrapMyError(err))
	}
	_ = c.SetDeadline(time.Time{})
	return &Conn{
		c:          c,
		id:         c.GetConnectionID(),
		queryAttrs: c.HasCapability(mysql.CLIENT_QUERY_ATTRIBUTES),
	}, nil
}

// unwrapMyError turns a go-mysql server error into a *sqlerr.Error so that
// its number survives; other errors pass through.
func unwrapMyError(err error) error {
	var me *mysql.MyError
	if errors.As(err, &me) {
		return &sqlerr.Error{Num: me.Code, State: me.State, Message: me.Message}
	}
	return err
}

// ID is mysqld's connection id, the argument of KILL.
func (c *Conn) ID() uint32 { return c.id }

// IsBroken reports whether the connection saw an I/O or protocol error and
// must be discarded.
func (c *Conn) IsBroken() bool { return c.broken }

// Close closes the connection without a goodbye.
func (c *Conn) Close() error {
	c.broken = true
	return c.c.Close()
}

// SetReadDeadline bounds the wait for mysqld's reply; a zero time clears
// it. Safe to call from another goroutine while a query runs: the query
// then fails with a broken connection.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.c.SetReadDeadline(t) }

// ResetConnection sends COM_RESET_CONNECTION: mysqld drops the session's
// variables, temporary tables and open transaction.
func (c *Conn) ResetConnection() error {
	if err := c.writeCommand(comResetConnection, ""); err != nil {
		return err
	}
	pkt, err := c.readScratch()
	if err != nil {
		return err
	}
	switch pkt[0] {
	case okHeader:
		return nil
	case errHeader:
		return c.parseErr(pkt)
	}
	return c.protocolError("unexpected reply 0x%02x to COM_RESET_CONNECTION", pkt[0])
}

// Exec runs a statement and discards any rows.
func (c *Conn) Exec(sql string) error {
	_, err := c.execute(sql, 0, nil, true)
	return err
}

// Execute runs sql and returns its whole result. maxRows > 0 fails a
// result with more rows (the rest is drained so the connection stays
// usable) with an error wrapping ErrTooManyRows. Row slices point into
// buffers the result owns.
func (c *Conn) Execute(sql string, maxRows int) (*querypb.QueryResult, error) {
	return c.execute(sql, maxRows, nil, false)
}

// Stream runs sql and calls send with chunks of about chunkBytes of rows;
// the first call carries the fields (and is made even for an empty
// result). The caller owns each chunk. If send fails, the rest of the
// result is drained and its error returned.
func (c *Conn) Stream(sql string, chunkBytes int, send func(*querypb.QueryResult) error) error {
	if chunkBytes <= 0 {
		chunkBytes = 64 << 10
	}
	_, err := c.execute(sql, 0, &streamer{chunk: chunkBytes, send: send}, false)
	return err
}

// ExecuteSmall runs sql and returns its whole result, as Execute does,
// when its rows take at most maxBytes. Past that it stops reading, closes
// the connection (mysqld abandons the statement: draining a large result
// could cost more than running it again) and returns ErrTooLarge.
func (c *Conn) ExecuteSmall(sql string, maxBytes int) (*querypb.QueryResult, error) {
	return c.execute(sql, 0, &streamer{chunk: max(maxBytes, 1), small: true}, false)
}

// ErrTooLarge is ExecuteSmall's error for a result over its limit.
var ErrTooLarge = errors.New("result too large for one message")

// streamer cuts a result into chunks of about chunk bytes of rows for
// send; with small set, a result that reaches chunk bytes fails instead
// (ExecuteSmall) and send is not used.
type streamer struct {
	chunk int
	send  func(*querypb.QueryResult) error
	small bool
	err   error
}

// appendWriter collects packet payloads for packet.Conn.ReadPacketTo.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

func (c *Conn) writeCommand(cmd byte, arg string) error {
	n := 4 + 1 + len(arg)
	if c.queryAttrs && cmd == comQuery {
		n += 2
	}
	if cap(c.cmd) < n || cap(c.cmd) > 64<<10 {
		c.cmd = make([]byte, 0, max(n, 256))
	}
	b := append(c.cmd[:0], 0, 0, 0, 0, cmd)
	if c.queryAttrs && cmd == comQuery {
		// parameter_count 0, parameter_set_count 1: no query attributes.
		b = append(b, 0, 1)
	}
	b = append(b, arg...)
	c.c.ResetSequence()
	if err := c.c.WritePacket(b); err != nil {
		c.broken = true
		return sqlerr.Wrap(sqlerr.ERServerGone, err, "write to mysqld: %v", err)
	}
	return nil
}

// readScratch reads one packet into the scratch buffer; the slice is valid
// until the next read.
func (c *Conn) readScratch() ([]byte, error) {
	c.scratch.b = c.scratch.b[:0]
	if err := c.c.ReadPacketTo(&c.scratch); err != nil {
		c.broken = true
		return nil, sqlerr.Wrap(sqlerr.ERServerGone, err, "read from mysqld: %v", err)
	}
	if len(c.scratch.b) == 0 {
		return nil, c.protocolError("empty packet")
	}
	return c.scratch.b, nil
}

func (c *Conn) protocolError(format string, args ...any) error {
	c.broken = true
	return sqlerr.New(sqlerr.ERServerGone, "mysqld protocol error: "+format, args...)
}

func (c *Conn) parseErr(pkt []byte) error {
	if len(pkt) < 3 {
		return c.protocolError("short error packet")
	}
	e := &sqlerr.Error{Num: binary.LittleEndian.Uint16(pkt[1:3])}
	rest := pkt[3:]
	if len(rest) >= 6 && rest[0] == '#' {
		e.State = string(rest[1:6])
		rest = rest[6:]
	} else {
		e.State = sqlerr.StateFor(e.Num)
	}
	e.Message = string(rest)
	return e
}

func isEOF(pkt []byte) bool { return pkt[0] == eofHeader && len(pkt) < 9 }

func (c *Conn) execute(sql string, maxRows int, st *streamer, discard bool) (*querypb.QueryResult, error) {
	if c.broken {
		return nil, sqlerr.New(sqlerr.ERServerGone, "mysqld connection is broken")
	}
	c.setRunning(sql)
	defer c.setRunning("")
	if err := c.writeCommand(comQuery, sql); err != nil {
		return nil, err
	}
	c.status = 0
	res, err := c.readResult(maxRows, st, discard)
	if c.status&serverMoreResultsExists == 0 {
		return res, err
	}
	if err != nil {
		c.drainResults()
		return nil, err
	}
	return c.readMoreResults(res, maxRows, st, discard)
}

// readResult reads one result of a statement: an OK packet, an error, or
// a result set. It leaves the status flags of its last packet in
// c.status.
func (c *Conn) readResult(maxRows int, st *streamer, discard bool) (*querypb.QueryResult, error) {
	pkt, err := c.readScratch()
	if err != nil {
		return nil, err
	}
	switch pkt[0] {
	case okHeader:
		res, err := c.parseOK(pkt)
		if err == nil && st != nil && !st.small {
			err = st.send(res)
		}
		return res, err
	case errHeader:
		return nil, c.parseErr(pkt)
	case infileHeader:
		// LOAD DATA LOCAL goes through LoadData, which has the file; here
		// answer with an empty file to keep the protocol in step.
		if err := c.c.WritePacket([]byte{0, 0, 0, 0}); err != nil {
			c.broken = true
			return nil, err
		}
		if _, err := c.readScratch(); err != nil {
			return nil, err
		}
		return nil, sqlerr.NotSupported("LOAD DATA LOCAL INFILE")
	}
	ncols, _, n := mysql.LengthEncodedInt(pkt)
	if n != len(pkt) || ncols == 0 {
		return nil, c.protocolError("bad column count packet")
	}
	fields := make([]*querypb.Field, ncols)
	for i := range fields {
		pkt, err := c.readScratch()
		if err != nil {
			return nil, err
		}
		if pkt[0] == errHeader {
			return nil, c.parseErr(pkt)
		}
		f, err := c.field(pkt)
		if err != nil {
			return nil, c.protocolError("bad column definition: %v", err)
		}
		fields[i] = f
	}
	if pkt, err = c.readScratch(); err != nil {
		return nil, err
	}
	if !isEOF(pkt) {
		return nil, c.protocolError("no EOF after column definitions")
	}
	return c.readRows(fields, maxRows, st, discard)
}

// readRows reads row packets until EOF. Rows are appended to one arena
// per result (or per chunk when streaming) and sliced out of it: one copy
// per row, and old arenas stay alive only through the rows that use them.
func (c *Conn) readRows(fields []*querypb.Field, maxRows int, st *streamer, discard bool) (*querypb.QueryResult, error) {
	res := &querypb.QueryResult{Fields: fields}
	var arena appendWriter
	var tooMany bool
	for {
		start := len(arena.b)
		if err := c.c.ReadPacketTo(&arena); err != nil {
			c.broken = true
			return nil, sqlerr.Wrap(sqlerr.ERServerGone, err, "read from mysqld: %v", err)
		}
		pkt := arena.b[start:]
		if len(pkt) == 0 {
			return nil, c.protocolError("empty row packet")
		}
		if isEOF(pkt) {
			if len(pkt) >= 3 {
				res.Warnings = uint32(binary.LittleEndian.Uint16(pkt[1:3]))
			}
			if len(pkt) >= 5 {
				c.status = binary.LittleEndian.Uint16(pkt[3:5])
			}
			arena.b = arena.b[:start]
			break
		}
		if pkt[0] == errHeader {
			err := c.parseErr(pkt)
			if st != nil && st.err != nil {
				return nil, st.err
			}
			return nil, err
		}
		if discard || tooMany || (st != nil && st.err != nil) {
			arena.b = arena.b[:start]
			continue
		}
		res.Rows = append(res.Rows, pkt[:len(pkt):len(pkt)])
		if maxRows > 0 && len(res.Rows) > maxRows {
			tooMany = true
			res.Rows = nil
			arena.b = nil
			continue
		}
		if st != nil && len(arena.b) >= st.chunk {
			if st.small {
				c.Close()
				return nil, ErrTooLarge
			}
			if err := st.send(res); err != nil {
				st.err = err
			}
			res = &querypb.QueryResult{}
			// A result that filled a chunk likely fills the next: give
			// it its size at once rather than grow it by copies (the
			// resharding copy's source spent a fifth of its CPU there).
			arena.b = make([]byte, 0, st.chunk+st.chunk/8)
		}
	}
	if tooMany {
		return nil, sqlerr.Wrap(sqlerr.ERTooManyRows, ErrTooManyRows, "Row count exceeded %d", maxRows)
	}
	if st != nil && !st.small {
		if st.err != nil {
			return nil, st.err
		}
		// The last chunk, or the only one (fields, maybe no rows), or
		// an empty one that carries the warning count.
		if len(res.Rows) > 0 || res.Fields != nil || res.Warnings > 0 {
			if err := st.send(res); err != nil {
				return nil, err
			}
		}
	}
	return res, nil
}

func (c *Conn) parseOK(pkt []byte) (*querypb.QueryResult, error) {
	res := &querypb.QueryResult{}
	pos := 1
	v, _, n := mysql.LengthEncodedInt(pkt[pos:])
	if n == 0 {
		return nil, c.protocolError("short OK packet")
	}
	res.RowsAffected = v
	pos += n
	v, _, n = mysql.LengthEncodedInt(pkt[pos:])
	if n == 0 {
		return nil, c.protocolError("short OK packet")
	}
	res.InsertId = v
	pos += n
	if len(pkt) >= pos+4 {
		// status flags (2), then warnings (2).
		c.status = binary.LittleEndian.Uint16(pkt[pos : pos+2])
		res.Warnings = uint32(binary.LittleEndian.Uint16(pkt[pos+2 : pos+4]))
		pos += 4
		if pos < len(pkt) {
			res.Info = okInfo(pkt[pos:])
		}
	}
	return res, nil
}

// maxCachedFields bounds a connection's cache of column definitions; a
// full cache starts over.
const maxCachedFields = 256

// field returns the column definition of pkt, from the connection's
// cache when it read the same packet before. The Field returned is
// shared by every result of the connection with that column: results'
// Fields are never modified (they are read and marshalled only).
func (c *Conn) field(pkt []byte) (*querypb.Field, error) {
	if f, ok := c.fields[string(pkt)]; ok {
		return f, nil
	}
	f, err := parseField(pkt)
	if err != nil {
		return nil, err
	}
	if c.fields == nil || len(c.fields) >= maxCachedFields {
		c.fields = make(map[string]*querypb.Field)
	}
	c.fields[string(pkt)] = f
	return f, nil
}

func parseField(pkt []byte) (*querypb.Field, error) {
	var f mysql.Field
	if err := f.Parse(pkt); err != nil {
		return nil, err
	}
	return &querypb.Field{
		Name:         string(f.Name),
		OrgName:      string(f.OrgName),
		Table:        string(f.Table),
		OrgTable:     string(f.OrgTable),
		Database:     string(f.Schema),
		Type:         uint32(f.Type),
		Flags:        uint32(f.Flag),
		Charset:      uint32(f.Charset),
		ColumnLength: f.ColumnLength,
		Decimals:     uint32(f.Decimal),
	}, nil
}

// okInfo is the info text of an OK packet ("Records: ...", "Rows
// matched: ..."). MariaDB sends it as a length-encoded string whatever
// the client's capabilities; MySQL without session tracking sends the
// rest of the packet.
func okInfo(b []byte) string {
	if n, isNull, k := mysql.LengthEncodedInt(b); !isNull && k > 0 && uint64(len(b)-k) == n {
		return string(b[k:])
	}
	return string(b)
}
