package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// A client's packets are read by packetConn, which trusts nothing in them:
// the 3-byte length of a header is a claim, and the buffer a packet goes
// into grows only as its bytes arrive, never to the claimed length up
// front (a header claiming 16 MiB followed by nothing costs nothing). A
// packet's limit is the handshake's before login and max_allowed_packet
// after; once the first byte of a packet is in, each wait for more is
// bounded by net_read_timeout.

// maxHandshakePacket bounds each packet before the client has logged in:
// the handshake response, the SSL request and the authentication
// exchange. The biggest real handshake response is its 32 fixed bytes, a
// user name, up to 255 bytes of authentication data, a database and a
// plugin name (a few hundred bytes together) and the connection
// attributes, which libmysqlclient caps at 64 KiB and mysqld refuses
// beyond 64 KiB; an RSA-encrypted password is 512 bytes at most. A bigger
// packet ends the connection.
const maxHandshakePacket = 64<<10 + 2<<10

// readChunk is the most a packet's buffer grows by before the bytes to
// fill it have arrived.
const readChunk = 64 << 10

// drainLimit is how much of an oversized packet is read and dropped,
// so that a client still writing it can read the error, before the
// connection is simply closed.
const drainLimit = 64 << 20

// keepCap is the capacity a connection's packet buffer keeps between
// commands; a bigger one (after a large packet) is released.
const keepCap = 64 << 10

// errPacketTooLarge is a client packet over its limit.
var errPacketTooLarge = errors.New("packet too large")

// errPacketsOutOfOrder is a packet whose sequence number is not the next.
var errPacketsOutOfOrder = errors.New("packets out of order")

// bufConn is a net.Conn whose reads go through a buffer we own, so that
// a TLS upgrade can take over the bytes a client sent right behind its
// SSL request.
type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func newBufConn(c net.Conn) *bufConn { return &bufConn{Conn: c, r: bufio.NewReaderSize(c, 16*1024)} }

func (b *bufConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// packetConn frames a client connection: it reads packets and holds the
// sequence number that packetWriter continues.
type packetConn struct {
	// conn is the connection (plain, or TLS after an upgrade).
	conn *bufConn
	// seq is the sequence number of the next packet either way.
	seq uint8
	// readTimeout bounds each wait for the rest of a packet once its
	// first byte is in (mysqld's net_read_timeout); 0 for none.
	readTimeout time.Duration
	// hardDeadline, when set, bounds every read whatever readTimeout
	// says (the connection phase's connect timeout).
	hardDeadline time.Time
	// deadlineSet says a read deadline may be set on conn: the next
	// packet's first wait clears or replaces it.
	deadlineSet bool
}

// packetBuffer receives packets: their bytes, the limit on their total,
// whether a packet past it is read to its end (drain) or ends the read at
// once, and whether the packet went past it (cut). With a budget, every
// buffer bigger than keepCap that a packet needs is charged to it, and the
// charge held until the next packet; a refused charge cuts the packet too
// (refused).
type packetBuffer struct {
	b       []byte
	max     int
	drain   bool
	cut     bool
	refused error
	budget  *memBudget
	charged int64
	// head keeps the first bytes of a cut packet (its command, a
	// statement id and a parameter number), whose answer depends on them.
	head []byte
}

// reset empties the buffer for the next packet, releasing a big one and
// its charge.
func (p *packetBuffer) reset() {
	if cap(p.b) > keepCap {
		p.b = nil
	}
	p.b = p.b[:0]
	p.cut, p.refused, p.head = false, nil, p.head[:0]
	p.release()
}

// release gives back what the buffer was charged.
func (p *packetBuffer) release() {
	if p.charged > 0 {
		p.budget.Release(p.charged)
		p.charged = 0
	}
}

// grow makes room for want more bytes of a packet that claims rest more
// (want included), never past the limit; false when the packet goes past
// it or the budget cannot spare the room. The buffer doubles, so that the
// buffers it leaves behind add up to no more than the last, but never
// past what the packet under way claims: its bytes arrive before it does.
func (p *packetBuffer) grow(want, rest int) bool {
	if p.cut || len(p.b)+want > p.max {
		return false
	}
	if cap(p.b)-len(p.b) >= want {
		return true
	}
	newCap := min(max(2*cap(p.b), len(p.b)+want), len(p.b)+rest, p.max)
	if p.budget != nil && newCap > keepCap {
		// Each buffer is charged whole: the ones outgrown are garbage
		// until the collector runs, and as many bytes again.
		if err := p.budget.Acquire(int64(newCap)); err != nil {
			p.refused = err
			return false
		}
		p.charged += int64(newCap)
	}
	nb := make([]byte, len(p.b), newCap)
	copy(nb, p.b)
	p.b = nb
	return true
}

// startPacket sets the read deadline of the wait for a packet's first
// byte: idle (zero for none), or the hard deadline when that is sooner.
func (pc *packetConn) startPacket(idle time.Time) error {
	d := idle
	if !pc.hardDeadline.IsZero() && (d.IsZero() || pc.hardDeadline.Before(d)) {
		d = pc.hardDeadline
	}
	if d.IsZero() && !pc.deadlineSet {
		return nil
	}
	pc.deadlineSet = !d.IsZero()
	return pc.conn.SetReadDeadline(d)
}

// readFull reads len(b) bytes. Bytes already buffered are taken without
// a system call or a deadline; a wait for more, once started is true
// (the packet's first byte is in), is bounded by readTimeout.
func (pc *packetConn) readFull(b []byte, started *bool) error {
	r := pc.conn.r
	for len(b) > 0 {
		if err := pc.beforeWait(*started); err != nil {
			return err
		}
		n, err := r.Read(b)
		if n > 0 {
			*started = true
			b = b[n:]
		}
		if err != nil {
			if len(b) > 0 && errors.Is(err, io.EOF) {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// beforeWait sets the read deadline of a wait for more of a packet under
// way, when the next read will wait (nothing is buffered).
func (pc *packetConn) beforeWait(started bool) error {
	if pc.conn.r.Buffered() > 0 || !started || pc.readTimeout <= 0 {
		return nil
	}
	d := time.Now().Add(pc.readTimeout)
	if !pc.hardDeadline.IsZero() && pc.hardDeadline.Before(d) {
		d = pc.hardDeadline
	}
	pc.deadlineSet = true
	return pc.conn.SetReadDeadline(d)
}

// readPacket reads one client packet (with the packets that continue it,
// for a payload of 16 MiB or more) into buf, which it empties first, and
// returns it. idle bounds the wait for its first byte (zero: none). A
// packet past buf's limit returns errPacketTooLarge: at once, or, when buf
// drains, once it was read and dropped (up to drainLimit), so that a
// client still writing it can read the error. A packet the budget cannot
// spare is read and dropped the same way and returns the budget's error
// (a *sqlerr.Error, after which the connection goes on). A sequence
// number out of order returns errPacketsOutOfOrder.
func (pc *packetConn) readPacket(buf *packetBuffer, idle time.Time) ([]byte, error) {
	buf.reset()
	if err := pc.startPacket(idle); err != nil {
		return nil, err
	}
	started := false
	dropped := 0
	var hdr [4]byte
	for {
		if err := pc.readFull(hdr[:], &started); err != nil {
			return nil, err
		}
		if hdr[3] != pc.seq {
			return nil, fmt.Errorf("%w: got %d, want %d", errPacketsOutOfOrder, hdr[3], pc.seq)
		}
		pc.seq++
		n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
		if len(buf.b)+n > buf.max && !buf.drain {
			return nil, errPacketTooLarge
		}
		for rest := n; rest > 0; {
			want := min(rest, readChunk)
			if buf.grow(want, rest) {
				l := len(buf.b)
				buf.b = buf.b[:l+want]
				if err := pc.readFull(buf.b[l:], &started); err != nil {
					return nil, err
				}
			} else {
				if !buf.cut {
					buf.head = append(buf.head[:0], buf.b[:min(len(buf.b), 7)]...)
					buf.cut, buf.b = true, nil
					buf.release()
				}
				if dropped += want; dropped > drainLimit {
					return nil, errPacketTooLarge
				}
				if err := pc.skip(want); err != nil {
					return nil, err
				}
			}
			rest -= want
		}
		if n < maxPayload {
			break
		}
	}
	switch {
	case buf.refused != nil:
		return nil, buf.refused
	case buf.cut:
		return nil, errPacketTooLarge
	}
	return buf.b, nil
}

// skip reads n bytes of a packet under way and forgets them, without
// copying them anywhere.
func (pc *packetConn) skip(n int) error {
	r := pc.conn.r
	for n > 0 {
		if err := pc.beforeWait(true); err != nil {
			return err
		}
		if r.Buffered() == 0 {
			if _, err := r.Peek(1); err != nil {
				if errors.Is(err, io.EOF) {
					return io.ErrUnexpectedEOF
				}
				return err
			}
		}
		k, _ := r.Discard(min(n, r.Buffered()))
		n -= k
	}
	return nil
}
