package mysqlsrv

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"regexp"
	"strings"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// Server status bits of OK and EOF packets.
const (
	StatusInTrans           uint16 = 0x0001
	StatusAutocommit        uint16 = 0x0002
	StatusMoreResultsExists uint16 = 0x0008
	// StatusNoBackslashEscapes tells the client the session's
	// sql_mode has NO_BACKSLASH_ESCAPES: drivers that quote values into
	// the text themselves (go-sql-driver's interpolateParams, the mariadb
	// client splitting statements) quote by it.
	StatusNoBackslashEscapes uint16 = 0x0200
)

const MaxPayload = 1<<24 - 1

func IsEOF(err error) bool { return errors.Is(err, io.EOF) }

// PacketWriter frames MySQL packets into a buffered writer, using and
// advancing the connection's sequence number. Nothing reaches the socket
// until Flush: one write per response instead of one per packet.
type PacketWriter struct {
	pc  *PacketConn
	w   *bufio.Writer
	Buf []byte // scratch for building payloads
	// hdr is the scratch of a packet header: a local array would escape
	// to the heap through the bufio.Writer's io.Writer, once per packet.
	hdr [4]byte
	// wroteError is set by WriteError: a statement of a multi-statement
	// query that failed ends the batch.
	WroteError bool
	// account is the client's gate account as mysqld's errors name one,
	// 'name'@'host': it takes the place of the tablets' own accounts in
	// the errors of mysqld's refusals (tabletAccount).
	Account string
}

// tabletAccount matches the tablets' mysqld accounts in mysqld's error
// messages ("SELECT command denied to user 'mosaic_app'@'localhost'").
var tabletAccount = regexp.MustCompile(`'mosaic_[a-z]+'@'localhost'`)

// NewPacketWriter returns a writer to pc's current connection (plain, or
// TLS after an upgrade).
func NewPacketWriter(pc *PacketConn) *PacketWriter {
	return &PacketWriter{pc: pc, w: bufio.NewWriterSize(connWriter{pc}, 32*1024), Buf: make([]byte, 0, 1024)}
}

// WritePacket writes one payload, split into 16 MiB pieces as the protocol
// requires.
func (p *PacketWriter) WritePacket(payload []byte) error {
	for {
		n := len(payload)
		if n > MaxPayload {
			n = MaxPayload
		}
		p.hdr = [4]byte{byte(n), byte(n >> 8), byte(n >> 16), p.pc.Seq}
		p.pc.Seq++
		if _, err := p.w.Write(p.hdr[:]); err != nil {
			return err
		}
		if _, err := p.w.Write(payload[:n]); err != nil {
			return err
		}
		payload = payload[n:]
		if n < MaxPayload {
			return nil
		}
		// A payload of exactly a multiple of 16 MiB ends with an empty packet.
	}
}

func (p *PacketWriter) Flush() error { return p.w.Flush() }

func AppendLenEncInt(b []byte, n uint64) []byte {
	switch {
	case n < 251:
		return append(b, byte(n))
	case n < 1<<16:
		return append(b, 0xfc, byte(n), byte(n>>8))
	case n < 1<<24:
		return append(b, 0xfd, byte(n), byte(n>>8), byte(n>>16))
	}
	b = append(b, 0xfe)
	return binary.LittleEndian.AppendUint64(b, n)
}

func AppendLenEncString(b []byte, s string) []byte {
	b = AppendLenEncInt(b, uint64(len(s)))
	return append(b, s...)
}

// WriteOK writes an OK packet.
func (p *PacketWriter) WriteOK(affected, insertID uint64, status, warnings uint16, info string) error {
	b := append(p.Buf[:0], 0x00)
	b = AppendLenEncInt(b, affected)
	b = AppendLenEncInt(b, insertID)
	b = binary.LittleEndian.AppendUint16(b, status)
	b = binary.LittleEndian.AppendUint16(b, warnings)
	if info != "" {
		// As MariaDB: a length-encoded string, which its clients expect
		// whatever the capabilities.
		b = AppendLenEncInt(b, uint64(len(info)))
		b = append(b, info...)
	}
	p.Buf = b
	return p.WritePacket(b)
}

// WriteEOF writes an EOF packet.
func (p *PacketWriter) WriteEOF(status, warnings uint16) error {
	b := append(p.Buf[:0], 0xfe)
	b = binary.LittleEndian.AppendUint16(b, warnings)
	b = binary.LittleEndian.AppendUint16(b, status)
	p.Buf = b
	return p.WritePacket(b)
}

// WriteError writes an ERR packet for any error.
func (p *PacketWriter) WriteError(err error) error {
	p.WroteError = true
	e := sqlerr.FromError(err)
	b := append(p.Buf[:0], 0xff)
	b = binary.LittleEndian.AppendUint16(b, e.Num)
	b = append(b, '#')
	state := e.State
	if len(state) != 5 {
		state = "HY000"
	}
	b = append(b, state...)
	msg := e.Message
	if p.Account != "" && strings.Contains(msg, "'mosaic_") {
		msg = tabletAccount.ReplaceAllLiteralString(msg, p.Account)
	}
	b = append(b, msg...)
	p.Buf = b
	return p.WritePacket(b)
}

// WriteFields writes the column count, the column definitions and, unless
// the client dropped EOF packets, the EOF after them.
func (p *PacketWriter) WriteFields(fields []*querypb.Field, status uint16) error {
	b := AppendLenEncInt(p.Buf[:0], uint64(len(fields)))
	if err := p.WritePacket(b); err != nil {
		return err
	}
	for _, f := range fields {
		b = AppendColumnDef(b[:0], f)
		if err := p.WritePacket(b); err != nil {
			return err
		}
	}
	p.Buf = b
	return p.WriteEOF(status, 0)
}

// ColumnCache is what a client with MariaDB's MARIADB_CLIENT_CACHE_METADATA
// holds of one prepared statement's result columns: their definitions as
// last sent (AppendColumnDefs), in the prepare response or an execution's
// result set. A client keeps them until it is sent others.
type ColumnCache struct {
	Sent []byte
}

// AppendColumnDefs encodes column definitions one after another, each
// preceded by its length: what a ColumnCache compares.
func AppendColumnDefs(b []byte, fields []*querypb.Field) []byte {
	var def []byte
	for _, f := range fields {
		def = AppendColumnDef(def[:0], f)
		b = AppendLenEncInt(b, uint64(len(def)))
		b = append(b, def...)
	}
	return b
}

// WriteFieldsCached writes the start of a binary-protocol result set for
// a client with MARIADB_CLIENT_CACHE_METADATA, as MariaDB does: the column
// count, then one byte, 1 when the column definitions follow and 0 when
// they do not, then the EOF either way. They follow unless they are, byte
// for byte, cache.Sent; cache nil sends them always and remembers
// nothing. cache.Sent becomes what the client now holds.
func (p *PacketWriter) WriteFieldsCached(fields []*querypb.Field, status uint16, cache *ColumnCache) error {
	var defs []byte
	send := true
	if cache != nil {
		defs = AppendColumnDefs(nil, fields)
		send = cache.Sent == nil || string(defs) != string(cache.Sent)
	}
	b := AppendLenEncInt(p.Buf[:0], uint64(len(fields)))
	if send {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	if err := p.WritePacket(b); err != nil {
		return err
	}
	if send {
		for _, f := range fields {
			b = AppendColumnDef(b[:0], f)
			if err := p.WritePacket(b); err != nil {
				return err
			}
		}
		if cache != nil {
			cache.Sent = defs
		}
	}
	p.Buf = b
	return p.WriteEOF(status, 0)
}

// AppendColumnDef encodes a Protocol::ColumnDefinition41.
func AppendColumnDef(b []byte, f *querypb.Field) []byte {
	b = AppendLenEncString(b, "def")
	b = AppendLenEncString(b, f.Database)
	b = AppendLenEncString(b, f.Table)
	b = AppendLenEncString(b, f.OrgTable)
	b = AppendLenEncString(b, f.Name)
	b = AppendLenEncString(b, f.OrgName)
	b = append(b, 0x0c)
	b = binary.LittleEndian.AppendUint16(b, uint16(f.Charset))
	b = binary.LittleEndian.AppendUint32(b, f.ColumnLength)
	b = append(b, byte(f.Type))
	b = binary.LittleEndian.AppendUint16(b, uint16(f.Flags))
	b = append(b, byte(f.Decimals), 0, 0)
	return b
}

// WriteRows writes text-protocol rows as they came from the tablet.
func (p *PacketWriter) WriteRows(rows [][]byte) error {
	for _, r := range rows {
		if err := p.WritePacket(r); err != nil {
			return err
		}
	}
	return nil
}

// connWriter writes to the packet connection's current net.Conn (plain,
// then TLS after an upgrade).
type connWriter struct{ pc *PacketConn }

func (w connWriter) Write(p []byte) (int, error) { return w.pc.Conn.Conn.Write(p) }
