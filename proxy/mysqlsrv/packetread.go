package mysqlsrv

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// A client's packets are read by PacketConn, which trusts nothing in them:
// the 3-byte length of a header is a claim, and the buffer a packet goes
// into grows only as its bytes arrive, never to the claimed length up
// front (a header claiming 16 MiB followed by nothing costs nothing). A
// packet's limit is the handshake's before login and max_allowed_packet
// after; once the first byte of a packet is in, each wait for more is
// bounded by net_read_timeout.

// MaxHandshakePacket bounds each packet before the client has logged in:
// the handshake response, the SSL request and the authentication
// exchange. The biggest real handshake response is its 32 fixed bytes, a
// user name, up to 255 bytes of authentication data, a database and a
// plugin name (a few hundred bytes together) and the connection
// attributes, which libmysqlclient caps at 64 KiB and mysqld refuses
// beyond 64 KiB; an RSA-encrypted password is 512 bytes at most. A bigger
// packet ends the connection.
const MaxHandshakePacket = 64<<10 + 2<<10

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

// ErrPacketTooLarge is a client packet over its limit.
var ErrPacketTooLarge = errors.New("packet too large")

// ErrPacketsOutOfOrder is a packet whose sequence number is not the next.
var ErrPacketsOutOfOrder = errors.New("packets out of order")

// BufConn is a net.Conn whose reads go through a buffer we own, so that
// a TLS upgrade can take over the bytes a client sent right behind its
// SSL request.
type BufConn struct {
	net.Conn
	r *bufio.Reader
}

func NewBufConn(c net.Conn) *BufConn { return &BufConn{Conn: c, r: bufio.NewReaderSize(c, 16*1024)} }

func (b *BufConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// Budget is the memory budget a PacketBuffer charges the buffers of big
// packets to.
type Budget interface {
	// Acquire takes n bytes of the budget, or returns the error to answer
	// with and takes nothing. It never waits.
	Acquire(n int64) error
	// Release gives back n bytes taken by Acquire.
	Release(n int64)
}

// PacketConn frames a client connection: it reads packets and holds the
// sequence number that PacketWriter continues.
type PacketConn struct {
	// conn is the connection (plain, or TLS after an upgrade).
	Conn *BufConn
	// seq is the sequence number of the next packet either way.
	Seq uint8
	// readTimeout bounds each wait for the rest of a packet once its
	// first byte is in (mysqld's net_read_timeout); 0 for none.
	ReadTimeout time.Duration
	// hardDeadline, when set, bounds every read whatever readTimeout
	// says (the connection phase's connect timeout).
	HardDeadline time.Time
	// deadlineSet says a read deadline may be set on conn: the next
	// packet's first wait clears or replaces it.
	DeadlineSet bool
}

// PacketBuffer receives packets: their bytes, the limit on their total,
// whether a packet past it is read to its end (drain) or ends the read at
// once, and whether the packet went past it (cut). With a budget, every
// buffer bigger than keepCap that a packet needs is charged to it, and the
// charge held until the next packet; a refused charge cuts the packet too
// (refused).
type PacketBuffer struct {
	B       []byte
	Max     int
	Drain   bool
	Cut     bool
	Refused error
	Budget  Budget
	charged int64
	// head keeps the first bytes of a cut packet (its command, a
	// statement id and a parameter number), whose answer depends on them.
	Head []byte
}

// Reset empties the buffer for the next packet, releasing a big one and
// its charge.
func (p *PacketBuffer) Reset() {
	if cap(p.B) > keepCap {
		p.B = nil
	}
	p.B = p.B[:0]
	p.Cut, p.Refused, p.Head = false, nil, p.Head[:0]
	p.release()
}

// release gives back what the buffer was charged.
func (p *PacketBuffer) release() {
	if p.charged > 0 {
		p.Budget.Release(p.charged)
		p.charged = 0
	}
}

// grow makes room for want more bytes of a packet that claims rest more
// (want included), never past the limit; false when the packet goes past
// it or the budget cannot spare the room. The buffer doubles, so that the
// buffers it leaves behind add up to no more than the last, but never
// past what the packet under way claims: its bytes arrive before it does.
func (p *PacketBuffer) grow(want, rest int) bool {
	if p.Cut || len(p.B)+want > p.Max {
		return false
	}
	if cap(p.B)-len(p.B) >= want {
		return true
	}
	newCap := min(max(2*cap(p.B), len(p.B)+want), len(p.B)+rest, p.Max)
	if p.Budget != nil && newCap > keepCap {
		// Each buffer is charged whole: the ones outgrown are garbage
		// until the collector runs, and as many bytes again.
		if err := p.Budget.Acquire(int64(newCap)); err != nil {
			p.Refused = err
			return false
		}
		p.charged += int64(newCap)
	}
	nb := make([]byte, len(p.B), newCap)
	copy(nb, p.B)
	p.B = nb
	return true
}

// startPacket sets the read deadline of the wait for a packet's first
// byte: idle (zero for none), or the hard deadline when that is sooner.
func (pc *PacketConn) startPacket(idle time.Time) error {
	d := idle
	if !pc.HardDeadline.IsZero() && (d.IsZero() || pc.HardDeadline.Before(d)) {
		d = pc.HardDeadline
	}
	if d.IsZero() && !pc.DeadlineSet {
		return nil
	}
	pc.DeadlineSet = !d.IsZero()
	return pc.Conn.SetReadDeadline(d)
}

// readFull reads len(b) bytes. Bytes already buffered are taken without
// a system call or a deadline; a wait for more, once started is true
// (the packet's first byte is in), is bounded by readTimeout.
func (pc *PacketConn) readFull(b []byte, started *bool) error {
	r := pc.Conn.r
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
func (pc *PacketConn) beforeWait(started bool) error {
	if pc.Conn.r.Buffered() > 0 || !started || pc.ReadTimeout <= 0 {
		return nil
	}
	d := time.Now().Add(pc.ReadTimeout)
	if !pc.HardDeadline.IsZero() && pc.HardDeadline.Before(d) {
		d = pc.HardDeadline
	}
	pc.DeadlineSet = true
	return pc.Conn.SetReadDeadline(d)
}

// ReadPacket reads one client packet (with the packets that continue it,
// for a payload of 16 MiB or more) into buf, which it empties first, and
// returns it. idle bounds the wait for its first byte (zero: none). A
// packet past buf's limit returns ErrPacketTooLarge: at once, or, when buf
// drains, once it was read and dropped (up to drainLimit), so that a
// client still writing it can read the error. A packet the budget cannot
// spare is read and dropped the same way and returns the budget's error
// (a *sqlerr.Error, after which the connection goes on). A sequence
// number out of order returns ErrPacketsOutOfOrder.
func (pc *PacketConn) ReadPacket(buf *PacketBuffer, idle time.Time) ([]byte, error) {
	buf.Reset()
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
		if hdr[3] != pc.Seq {
			return nil, fmt.Errorf("%w: got %d, want %d", ErrPacketsOutOfOrder, hdr[3], pc.Seq)
		}
		pc.Seq++
		n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
		if len(buf.B)+n > buf.Max && !buf.Drain {
			return nil, ErrPacketTooLarge
		}
		for rest := n; rest > 0; {
			want := min(rest, readChunk)
			if buf.grow(want, rest) {
				l := len(buf.B)
				buf.B = buf.B[:l+want]
				if err := pc.readFull(buf.B[l:], &started); err != nil {
					return nil, err
				}
			} else {
				if !buf.Cut {
					buf.Head = append(buf.Head[:0], buf.B[:min(len(buf.B), 7)]...)
					buf.Cut, buf.B = true, nil
					buf.release()
				}
				if dropped += want; dropped > drainLimit {
					return nil, ErrPacketTooLarge
				}
				if err := pc.Skip(want); err != nil {
					return nil, err
				}
			}
			rest -= want
		}
		if n < MaxPayload {
			break
		}
	}
	switch {
	case buf.Refused != nil:
		return nil, buf.Refused
	case buf.Cut:
		return nil, ErrPacketTooLarge
	}
	return buf.B, nil
}

// Skip reads n bytes of a packet under way and forgets them, without
// copying them anywhere.
func (pc *PacketConn) Skip(n int) error {
	r := pc.Conn.r
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
