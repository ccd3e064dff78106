package proxy

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
	serverStatusInTrans     uint16 = 0x0001
	serverStatusAutocommit  uint16 = 0x0002
	serverMoreResultsExists uint16 = 0x0008
	// serverStatusNoBackslashEscapes tells the client the session's
	// sql_mode has NO_BACKSLASH_ESCAPES: drivers that quote values into
	// the text themselves (go-sql-driver's interpolateParams, the mariadb
	// client splitting statements) quote by it.
	serverStatusNoBackslashEscapes uint16 = 0x0200
)

const maxPayload = 1<<24 - 1

func isEOF(err error) bool { return errors.Is(err, io.EOF) }

// packetWriter frames MySQL packets into a buffered writer, using and
// advancing the connection's sequence number. Nothing reaches the socket
// until flush: one write per response instead of one per packet.
type packetWriter struct {
	pc  *packetConn
	w   *bufio.Writer
	buf []byte // scratch for building payloads
	// hdr is the scratch of a packet header: a local array would escape
	// to the heap through the bufio.Writer's io.Writer, once per packet.
	hdr [4]byte
	// wroteError is set by writeError: a statement of a multi-statement
	// query that failed ends the batch.
	wroteError bool
	// account is the client's gate account as mysqld's errors name one,
	// 'name'@'host': it takes the place of the tablets' own accounts in
	// the errors of mysqld's refusals (tabletAccount).
	account string
}

// tabletAccount matches the tablets' mysqld accounts in mysqld's error
// messages ("SELECT command denied to user 'mosaic_app'@'localhost'").
var tabletAccount = regexp.MustCompile(`'mosaic_[a-z]+'@'localhost'`)

// newPacketWriter returns a writer to pc's current connection (plain, or
// TLS after an upgrade).
func newPacketWriter(pc *packetConn) *packetWriter {
	return &packetWriter{pc: pc, w: bufio.NewWriterSize(connWriter{pc}, 32*1024), buf: make([]byte, 0, 1024)}
}

// writePacket writes one payload, split into 16 MiB pieces as the protocol
// requires.
func (p *packetWriter) writePacket(payload []byte) error {
	for {
		n := len(payload)
		if n > maxPayload {
			n = maxPayload
		}
		p.hdr = [4]byte{byte(n), byte(n >> 8), byte(n >> 16), p.pc.seq}
		p.pc.seq++
		if _, err := p.w.Write(p.hdr[:]); err != nil {
			return err
		}
		if _, err := p.w.Write(payload[:n]); err != nil {
			return err
		}
		payload = payload[n:]
		if n < maxPayload {
			return nil
		}
		// A payload of exactly a multiple of 16 MiB ends with an empty packet.
	}
}

func (p *packetWriter) flush() error { return p.w.Flush() }

func appendLenEncInt(b []byte, n uint64) []byte {
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

func appendLenEncString(b []byte, s string) []byte {
	b = appendLenEncInt(b, uint64(len(s)))
	return append(b, s...)
}

// writeOK writes an OK packet.
func (p *packetWriter) writeOK(affected, insertID uint64, status, warnings uint16, info string) error {
	b := append(p.buf[:0], 0x00)
	b = appendLenEncInt(b, affected)
	b = appendLenEncInt(b, insertID)
	b = binary.LittleEndian.AppendUint16(b, status)
	b = binary.LittleEndian.AppendUint16(b, warnings)
	if info != "" {
		// As MariaDB: a length-encoded string, which its clients expect
		// whatever the capabilities.
		b = appendLenEncInt(b, uint64(len(info)))
		b = append(b, info...)
	}
	p.buf = b
	return p.writePacket(b)
}

// writeEOF writes an EOF packet.
func (p *packetWriter) writeEOF(status, warnings uint16) error {
	b := append(p.buf[:0], 0xfe)
	b = binary.LittleEndian.AppendUint16(b, warnings)
	b = binary.LittleEndian.AppendUint16(b, status)
	p.buf = b
	return p.writePacket(b)
}

// writeError writes an ERR packet for any error.
func (p *packetWriter) writeError(err error) error {
	p.wroteError = true
	e := sqlerr.FromError(err)
	b := append(p.buf[:0], 0xff)
	b = binary.LittleEndian.AppendUint16(b, e.Num)
	b = append(b, '#')
	state := e.State
	if len(state) != 5 {
		state = "HY000"
	}
	b = append(b, state...)
	msg := e.Message
	if p.account != "" && strings.Contains(msg, "'mosaic_") {
		msg = tabletAccount.ReplaceAllLiteralString(msg, p.account)
	}
	b = append(b, msg...)
	p.buf = b
	return p.writePacket(b)
}

// writeFields writes the column count, the column definitions and, unless
// the client dropped EOF packets, the EOF after them.
func (p *packetWriter) writeFields(fields []*querypb.Field, status uint16) error {
	b := appendLenEncInt(p.buf[:0], uint64(len(fields)))
	if err := p.writePacket(b); err != nil {
		return err
	}
	for _, f := range fields {
		b = appendColumnDef(b[:0], f)
		if err := p.writePacket(b); err != nil {
			return err
		}
	}
	p.buf = b
	return p.writeEOF(status, 0)
}

// appendColumnDef encodes a Protocol::ColumnDefinition41.
func appendColumnDef(b []byte, f *querypb.Field) []byte {
	b = appendLenEncString(b, "def")
	b = appendLenEncString(b, f.Database)
	b = appendLenEncString(b, f.Table)
	b = appendLenEncString(b, f.OrgTable)
	b = appendLenEncString(b, f.Name)
	b = appendLenEncString(b, f.OrgName)
	b = append(b, 0x0c)
	b = binary.LittleEndian.AppendUint16(b, uint16(f.Charset))
	b = binary.LittleEndian.AppendUint32(b, f.ColumnLength)
	b = append(b, byte(f.Type))
	b = binary.LittleEndian.AppendUint16(b, uint16(f.Flags))
	b = append(b, byte(f.Decimals), 0, 0)
	return b
}

// writeRows writes text-protocol rows as they came from the tablet.
func (p *packetWriter) writeRows(rows [][]byte) error {
	for _, r := range rows {
		if err := p.writePacket(r); err != nil {
			return err
		}
	}
	return nil
}
