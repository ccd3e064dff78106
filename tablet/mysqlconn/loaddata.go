package mysqlconn

import (
	"errors"
	"io"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// maxInfilePacket is the largest data packet LoadData sends mysqld; it
// stays under mysqld's default max_allowed_packet (16 MiB) by a margin.
const maxInfilePacket = 1 << 20

// LoadData runs a LOAD DATA LOCAL INFILE statement and, when mysqld asks
// for the file, sends it what next returns, chunk after chunk, until next
// returns io.EOF; then it reads mysqld's answer (affected rows, warnings,
// and info "Records: ..."). next's slices are not kept past the call that
// follows.
//
// When next fails with another error the connection is closed before the
// end of the file is sent, so that mysqld abandons the statement rather
// than loading a partial file; the error is returned. When mysqld refuses
// the statement before asking for the file, next is not called.
func (c *Conn) LoadData(sql string, next func() ([]byte, error)) (*querypb.QueryResult, error) {
	if c.broken {
		return nil, sqlerr.New(sqlerr.ERServerGone, "mysqld connection is broken")
	}
	c.setRunning(sql)
	defer c.setRunning("")
	if err := c.writeCommand(comQuery, sql); err != nil {
		return nil, err
	}
	pkt, err := c.readScratch()
	if err != nil {
		return nil, err
	}
	switch pkt[0] {
	case okHeader:
		return c.parseOK(pkt)
	case errHeader:
		return nil, c.parseErr(pkt)
	case infileHeader:
	default:
		// A result set: not a LOAD DATA LOCAL statement. Drop the
		// connection rather than read it.
		c.Close()
		return nil, sqlerr.New(sqlerr.ERWrongArguments, "LoadData: the statement is not LOAD DATA LOCAL INFILE")
	}
	if c.infile == nil {
		c.infile = make([]byte, 4, 4+maxInfilePacket)
	}
	buf := c.infile
	for {
		chunk, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			c.Close()
			return nil, err
		}
		for len(chunk) > 0 {
			n := min(len(chunk), maxInfilePacket)
			buf = append(buf[:4], chunk[:n]...)
			chunk = chunk[n:]
			if err := c.c.WritePacket(buf); err != nil {
				c.broken = true
				return nil, sqlerr.Wrap(sqlerr.ERServerGone, err, "write to mysqld: %v", err)
			}
		}
	}
	if err := c.c.WritePacket(buf[:4]); err != nil {
		c.broken = true
		return nil, sqlerr.Wrap(sqlerr.ERServerGone, err, "write to mysqld: %v", err)
	}
	if pkt, err = c.readScratch(); err != nil {
		return nil, err
	}
	switch pkt[0] {
	case okHeader:
		return c.parseOK(pkt)
	case errHeader:
		return nil, c.parseErr(pkt)
	}
	return nil, c.protocolError("unexpected reply 0x%02x to the end of a local file", pkt[0])
}
