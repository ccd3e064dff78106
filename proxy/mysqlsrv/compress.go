package mysqlsrv

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// The compressed protocol (CLIENT_COMPRESS) is a layer under the packets:
// once a client that asked for it has logged in, every byte either way
// travels in compressed packets, each a 7-byte header (3 bytes of payload
// length, a compressed sequence number, 3 bytes of length before
// compression, 0 when the payload is sent as it is) and a zlib payload.
// A compressed packet may hold part of a packet or several. Its sequence
// numbers run apart from the packets' ones: the client starts each
// command at 0, and each packet the server sends takes the number after
// the last one it received or sent.

// compressHeader is a compressed packet's header size.
const compressHeader = 7

// minCompress is the smallest payload worth compressing; shorter ones go
// as they are, as MariaDB sends them.
const minCompress = 50

// maxCompressedPayload is the most one compressed packet carries.
const maxCompressedPayload = 1<<24 - 1

// ErrBadCompressedPacket is a compressed packet that does not decompress
// to the length its header claims.
var ErrBadCompressedPacket = errors.New("malformed compressed packet")

// CompressConn is a net.Conn that speaks the compressed protocol over c.
// Reads decompress as the bytes arrive, never buffering a packet at the
// length its header claims; each Write is sent as one or more compressed
// packets. Deadlines and Close are c's.
type CompressConn struct {
	net.Conn

	mu  sync.Mutex // seq
	seq uint8      // the next compressed packet's sequence number

	// Reading: the payload left of the current packet.
	br      *bufio.Reader
	payload io.Reader
	zr      io.ReadCloser // reused zlib reader
	lr      limitedReader
	left    int // bytes of the current packet's uncompressed data not read
	hdr     [compressHeader]byte

	// Writing.
	wbuf bytes.Buffer
	zw   *zlib.Writer
}

// NewCompressConn starts the compressed protocol on c, right after the
// OK packet that ends the connection phase.
func NewCompressConn(c net.Conn) *CompressConn {
	return &CompressConn{Conn: c, br: bufio.NewReaderSize(c, 16<<10)}
}

// limitedReader reads at most n bytes of r, byte by byte too, so that
// zlib reads a packet's payload without buffering past it.
type limitedReader struct {
	r *bufio.Reader
	n int
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, io.EOF
	}
	if len(p) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= n
	return n, err
}

func (l *limitedReader) ReadByte() (byte, error) {
	if l.n <= 0 {
		return 0, io.EOF
	}
	b, err := l.r.ReadByte()
	if err == nil {
		l.n--
	}
	return b, err
}

func (c *CompressConn) Read(p []byte) (int, error) {
	for c.left == 0 {
		if err := c.next(); err != nil {
			return 0, err
		}
	}
	if len(p) > c.left {
		p = p[:c.left]
	}
	n, err := c.payload.Read(p)
	c.left -= n
	switch {
	case errors.Is(err, io.EOF) && c.left > 0:
		return n, fmt.Errorf("%w: it ends %d bytes short of its length", ErrBadCompressedPacket, c.left)
	case errors.Is(err, io.EOF):
		err = nil
	case err != nil && !isNetError(err):
		err = fmt.Errorf("%w: %v", ErrBadCompressedPacket, err)
	}
	if c.left == 0 && err == nil {
		err = c.endPacket()
	}
	return n, err
}

// isNetError says err came from the connection, not from the payload.
func isNetError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrUnexpectedEOF)
}

// next reads the next compressed packet's header and sets up its payload.
func (c *CompressConn) next() error {
	if _, err := io.ReadFull(c.br, c.hdr[:]); err != nil {
		return err
	}
	clen := int(c.hdr[0]) | int(c.hdr[1])<<8 | int(c.hdr[2])<<16
	ulen := int(c.hdr[4]) | int(c.hdr[5])<<8 | int(c.hdr[6])<<16
	c.mu.Lock()
	c.seq = c.hdr[3] + 1
	c.mu.Unlock()
	c.lr = limitedReader{r: c.br, n: clen}
	if ulen == 0 {
		c.payload, c.left = &c.lr, clen
		return nil
	}
	var err error
	if c.zr == nil {
		c.zr, err = zlib.NewReader(&c.lr)
	} else {
		err = c.zr.(zlib.Resetter).Reset(&c.lr, nil)
	}
	if err != nil {
		if isNetError(err) {
			return err
		}
		return fmt.Errorf("%w: %v", ErrBadCompressedPacket, err)
	}
	c.payload, c.left = c.zr, ulen
	return nil
}

// endPacket checks that a packet's compressed bytes are all used once its
// uncompressed length is read: the next header follows them.
func (c *CompressConn) endPacket() error {
	if c.payload == c.zr {
		// The stream's end (checksum) is still to be read.
		var one [1]byte
		if n, err := c.zr.Read(one[:]); n > 0 || !errors.Is(err, io.EOF) {
			if err != nil && isNetError(err) {
				return err
			}
			return fmt.Errorf("%w: it holds more than its length", ErrBadCompressedPacket)
		}
	}
	if c.lr.n != 0 {
		return fmt.Errorf("%w: %d bytes after its data", ErrBadCompressedPacket, c.lr.n)
	}
	return nil
}

// Write sends p in compressed packets: compressed when that makes it
// shorter, as it is when short or incompressible.
func (c *CompressConn) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), maxCompressedPayload)]
		if err := c.writePacket(chunk); err != nil {
			return written, err
		}
		written += len(chunk)
		p = p[len(chunk):]
	}
	return written, nil
}

func (c *CompressConn) writePacket(chunk []byte) error {
	c.wbuf.Reset()
	c.wbuf.Write(make([]byte, compressHeader))
	ulen := 0
	if len(chunk) >= minCompress {
		if c.zw == nil {
			c.zw = zlib.NewWriter(&c.wbuf)
		} else {
			c.zw.Reset(&c.wbuf)
		}
		c.zw.Write(chunk) // writes to a bytes.Buffer do not fail
		c.zw.Close()
		if c.wbuf.Len()-compressHeader < len(chunk) {
			ulen = len(chunk)
		} else {
			c.wbuf.Truncate(compressHeader)
		}
	}
	if ulen == 0 {
		c.wbuf.Write(chunk)
	}
	b := c.wbuf.Bytes()
	clen := len(b) - compressHeader
	b[0], b[1], b[2] = byte(clen), byte(clen>>8), byte(clen>>16)
	c.mu.Lock()
	b[3] = c.seq
	c.seq++
	c.mu.Unlock()
	b[4], b[5], b[6] = byte(ulen), byte(ulen>>8), byte(ulen>>16)
	_, err := c.Conn.Write(b)
	return err
}
