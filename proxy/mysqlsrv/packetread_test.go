package mysqlsrv

import (
	"bytes"
	"errors"
	"github.com/go-mysql-org/go-mysql/mysql"
	"io"
	"net"
	"testing"
	"time"
)

// pipeConn returns a PacketConn reading from one end of a pipe and the
// other end to write to.
func pipeConn(t *testing.T) (*PacketConn, net.Conn) {
	t.Helper()
	server, client := net.Pipe()
	t.Cleanup(func() { server.Close(); client.Close() })
	return &PacketConn{Conn: NewBufConn(server)}, client
}

func header(n int, seq byte) []byte { return []byte{byte(n), byte(n >> 8), byte(n >> 16), seq} }

// The buffer of a packet grows with the bytes that arrived, not with what
// its header claims.
func TestReadPacketGrowsAsBytesArrive(t *testing.T) {
	pc, client := pipeConn(t)
	buf := &PacketBuffer{Max: 64 << 20, Drain: true}
	done := make(chan error, 1)
	go func() { _, err := pc.ReadPacket(buf, time.Time{}); done <- err }()
	client.Write(header(1<<24-2, 0)) // claims 16 MiB
	client.Write(make([]byte, 100))
	// net.Pipe is synchronous: the reader has taken the 100 bytes.
	client.Close()
	if err := <-done; err == nil {
		t.Fatal("a cut packet was read")
	}
	if c := cap(buf.B); c > readChunk {
		t.Fatalf("100 bytes of a packet claiming 16 MiB took a buffer of %d bytes", c)
	}
}

func TestReadPacketSplitAndReleased(t *testing.T) {
	pc, client := pipeConn(t)
	buf := &PacketBuffer{Max: 64 << 20, Drain: true}
	// A payload of 16 MiB - 1 + 10 bytes comes as two packets.
	payload := bytes.Repeat([]byte("x"), MaxPayload+10)
	go func() {
		client.Write(header(MaxPayload, 0))
		client.Write(payload[:MaxPayload])
		client.Write(header(10, 1))
		client.Write(payload[MaxPayload:])
		client.Write(header(3, 0))
		client.Write([]byte("abc"))
	}()
	got, err := pc.ReadPacket(buf, time.Time{})
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
	pc.Seq = 0
	got, err = pc.ReadPacket(buf, time.Time{})
	if err != nil || string(got) != "abc" {
		t.Fatalf("next packet: %q, %v", got, err)
	}
	if c := cap(buf.B); c > keepCap {
		t.Fatalf("the buffer kept %d bytes after a big packet", c)
	}
}

func TestReadPacketLimit(t *testing.T) {
	// Draining (after login): the rest of the packet is read and
	// dropped, then the error, and the next packet reads in step.
	pc, client := pipeConn(t)
	buf := &PacketBuffer{Max: 1000, Drain: true}
	go func() {
		client.Write(header(5000, 0))
		client.Write(make([]byte, 5000))
	}()
	if _, err := pc.ReadPacket(buf, time.Time{}); !errors.Is(err, ErrPacketTooLarge) {
		t.Fatalf("got %v, want ErrPacketTooLarge", err)
	}
	if buf.B != nil {
		t.Fatalf("the dropped packet kept a buffer of %d bytes", cap(buf.B))
	}
	// Not draining (before login): the header is enough.
	pc, client = pipeConn(t)
	buf = &PacketBuffer{Max: MaxHandshakePacket}
	go client.Write(header(1<<24-1, 1))
	pc.Seq = 1
	if _, err := pc.ReadPacket(buf, time.Time{}); !errors.Is(err, ErrPacketTooLarge) {
		t.Fatalf("got %v, want ErrPacketTooLarge", err)
	}
}

func TestReadPacketOutOfOrder(t *testing.T) {
	pc, client := pipeConn(t)
	go client.Write(append(header(1, 3), 1))
	if _, err := pc.ReadPacket(&PacketBuffer{Max: 100}, time.Time{}); !errors.Is(err, ErrPacketsOutOfOrder) {
		t.Fatalf("got %v", err)
	}
}

// FuzzReadPacket feeds any bytes to the packet reader, before and after
// login: it returns packets within the limit or an error, and its buffer
// never outgrows the limit or what arrived.
func FuzzReadPacket(f *testing.F) {
	f.Add(packets(0, []byte{mysql.COM_QUERY, 's'}), false)
	f.Add(append(header(1<<24-1, 0), 1, 2, 3), false)
	f.Add(append(header(1<<24-1, 1), 1, 2, 3), true)
	f.Add(append(packets(0, bytes.Repeat([]byte{1}, 300)), packets(0, nil)...), false)
	f.Fuzz(func(t *testing.T, stream []byte, preAuth bool) {
		pc := &PacketConn{Conn: NewBufConn(&streamConn{r: bytes.NewReader(stream)})}
		buf := &PacketBuffer{Max: 256, Drain: true}
		if preAuth {
			buf.Drain = false
			pc.Seq = 1
		}
		for range 8 {
			p, err := pc.ReadPacket(buf, time.Time{})
			if c := cap(buf.B); c > buf.Max || c > len(stream)+readChunk {
				t.Fatalf("a buffer of %d bytes for a stream of %d", c, len(stream))
			}
			if err != nil {
				return
			}
			if len(p) > buf.Max {
				t.Fatalf("a packet of %d bytes past the limit", len(p))
			}
			pc.Seq = 0
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

func (s *streamConn) Read(b []byte) (int, error) { return s.r.Read(b) }

func (s *streamConn) SetReadDeadline(time.Time) error { return nil }

func (s *streamConn) Close() error { return nil }

func (s *streamConn) Write(b []byte) (int, error) { return len(b), nil }

func (s *streamConn) RemoteAddr() net.Addr { return &net.TCPAddr{} }

func (s *streamConn) SetDeadline(time.Time) error { return nil }

func (s *streamConn) SetWriteDeadline(t time.Time) error { return nil }
