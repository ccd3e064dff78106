package mysqlsrv

import (
	"bytes"
	"compress/zlib"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"
)

// pipe returns a CompressConn over one end of a pipe and the other end.
func pipe(t *testing.T) (*CompressConn, net.Conn) {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	deadline := time.Now().Add(10 * time.Second)
	a.SetDeadline(deadline)
	b.SetDeadline(deadline)
	return NewCompressConn(a), b
}

// rawPacket is a compressed packet as a client builds it by hand.
func rawPacket(seq byte, ulen int, payload []byte) []byte {
	n := len(payload)
	return append([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq, byte(ulen), byte(ulen >> 8), byte(ulen >> 16)}, payload...)
}

func zlibOf(b []byte) []byte {
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// TestCompressReadsWhatClientsSend reads the example of MySQL's protocol
// documentation (a COM_QUERY of 46 bytes, sent uncompressed because it is
// short), then a compressed packet holding two packets, and answers with
// the sequence number after the client's.
func TestCompressReadsWhatClientsSend(t *testing.T) {
	c, client := pipe(t)
	query := append([]byte{0x2a, 0, 0, 0, 0x03}, []byte(`select "012345678901234567890123456789012345"`)...)
	two := append(bytes.Repeat([]byte{0x05, 0, 0, 0, 0x0e, 'a', 'b', 'c', 'd'}, 1), append([]byte{0x30, 0, 0, 1}, bytes.Repeat([]byte("y"), 0x30)...)...)
	go func() {
		client.Write(rawPacket(0, 0, query))
		client.Write(rawPacket(1, len(two), zlibOf(two)))
	}()
	got := make([]byte, len(query))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, query) {
		t.Fatalf("uncompressed packet: %q, %v", got, err)
	}
	got = make([]byte, len(two))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, two) {
		t.Fatalf("compressed packet: %q, %v", got, err)
	}
	// The answer takes sequence number 2; a short one goes uncompressed.
	go c.Write([]byte{7, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0})
	hdr := make([]byte, compressHeader+11)
	if _, err := io.ReadFull(client, hdr); err != nil {
		t.Fatal(err)
	}
	if hdr[0] != 11 || hdr[3] != 2 || hdr[4] != 0 || hdr[5] != 0 || hdr[6] != 0 {
		t.Fatalf("answer header % x", hdr[:compressHeader])
	}
}

// TestCompressRoundTrip sends big results both ways through two
// CompressConns and checks they arrive whole and travel compressed.
func TestCompressRoundTrip(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	server, client := NewCompressConn(a), NewCompressConn(b)
	msg := []byte(strings.Repeat("a compressible row of text, ", 40000)) // 1.1 MB
	done := make(chan error, 1)
	go func() {
		_, err := client.Write(msg)
		done <- err
	}()
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(server, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("read %d bytes: %v", len(got), err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The bytes on the wire: a packet's compressed length.
	var buf bytes.Buffer
	cc := &CompressConn{Conn: fakeConn{&buf}}
	cc.Write(msg)
	if buf.Len()*10 > len(msg) {
		t.Fatalf("%d bytes of text took %d on the wire", len(msg), buf.Len())
	}
	// Incompressible bytes go as they are.
	random := make([]byte, 4096)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	buf.Reset()
	cc.Write(random)
	if h := buf.Bytes()[:compressHeader]; buf.Len() != len(random)+compressHeader || h[4] != 0 || h[5] != 0 || h[6] != 0 {
		t.Fatalf("incompressible: %d bytes, header % x", buf.Len(), h)
	}
}

type fakeConn struct{ w io.Writer }

func (f fakeConn) Read([]byte) (int, error)       { return 0, io.EOF }
func (f fakeConn) Write(p []byte) (int, error)    { return f.w.Write(p) }
func (fakeConn) Close() error                     { return nil }
func (fakeConn) LocalAddr() net.Addr              { return nil }
func (fakeConn) RemoteAddr() net.Addr             { return nil }
func (fakeConn) SetDeadline(time.Time) error      { return nil }
func (fakeConn) SetReadDeadline(time.Time) error  { return nil }
func (fakeConn) SetWriteDeadline(time.Time) error { return nil }

// TestCompressRefusesLies: a packet whose data is not what its header
// says is an error, and a header claiming 16 MiB costs nothing until the
// bytes come.
func TestCompressRefusesLies(t *testing.T) {
	for _, tc := range []struct {
		name string
		pkt  []byte
	}{
		{"not zlib", rawPacket(0, 1000, []byte("this is not a zlib stream at all"))},
		{"more than claimed", rawPacket(0, 10, zlibOf(bytes.Repeat([]byte("z"), 1000)))},
		{"less than claimed", rawPacket(0, 1<<24-1, zlibOf([]byte("short")))},
		{"junk after the stream", rawPacket(0, 5, append(zlibOf([]byte("hello")), 1, 2, 3))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, client := pipe(t)
			go func() {
				client.Write(tc.pkt)
				client.Close()
			}()
			_, err := io.ReadAll(c)
			if !errors.Is(err, ErrBadCompressedPacket) {
				t.Fatalf("read: %v, want ErrBadCompressedPacket", err)
			}
		})
	}
}

// FuzzCompressRead feeds any bytes to a CompressConn as a client's
// compressed packets and reads them through a PacketConn: nothing may
// panic, and no more arrives than deflate can make of the bytes sent.
func FuzzCompressRead(f *testing.F) {
	f.Add(rawPacket(0, 0, []byte{1, 0, 0, 0, 0x0e}))
	f.Add(rawPacket(0, 5, zlibOf([]byte{1, 0, 0, 0, 0x0e})))
	f.Add(rawPacket(3, 1<<24-1, zlibOf(bytes.Repeat([]byte{0xff}, 300))))
	f.Add(append(rawPacket(0, 0, []byte{2, 0, 0}), rawPacket(1, 2, zlibOf([]byte{0, 3}))...))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, b := net.Pipe()
		defer a.Close()
		go func() {
			b.Write(data)
			b.Close()
		}()
		c := NewCompressConn(a)
		buf := make([]byte, 4096)
		total := 0
		for {
			n, err := c.Read(buf)
			total += n
			if err != nil {
				break
			}
			if total > 1100*len(data)+1024 { // deflate expands at most 1032 to 1
				t.Fatalf("%d bytes read from %d", total, len(data))
			}
		}
	})
}
