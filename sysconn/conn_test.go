package sysconn

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/testports"
)

// pair returns two connected sockets of network, the first wrapped.
func pair(t *testing.T, network string) (net.Conn, net.Conn) {
	t.Helper()
	addr, err := testports.Addr()
	if err != nil {
		t.Fatal(err)
	}
	if network == "unix" {
		addr = filepath.Join(t.TempDir(), "s")
	}
	lis, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := Listener{lis}.Accept()
		accepted <- c
	}()
	c, err := net.Dial(network, lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		t.Fatal("accept failed")
	}
	if _, ok := s.(*Conn); !ok {
		t.Fatalf("accepted %T, want *Conn", s)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return s, c
}

// TestConn: data both ways, a write far larger than the socket buffer
// (partial writes, waiting for the peer to read), EOF, read deadlines and
// a Close that ends a blocked Read, on TCP and Unix sockets.
func TestConn(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			w, peer := pair(t, network)
			if _, err := w.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 5)
			if _, err := io.ReadFull(peer, buf); err != nil || string(buf) != "hello" {
				t.Fatalf("peer read %q %v", buf, err)
			}
			if _, err := peer.Write([]byte("world")); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(w, buf); err != nil || string(buf) != "world" {
				t.Fatalf("read %q %v", buf, err)
			}

			big := bytes.Repeat([]byte("0123456789abcdef"), 1<<20) // 16 MiB
			got := make(chan []byte, 1)
			go func() {
				b, _ := io.ReadAll(io.LimitReader(peer, int64(len(big))))
				got <- b
			}()
			if n, err := w.Write(big); err != nil || n != len(big) {
				t.Fatalf("big write: %d %v", n, err)
			}
			if b := <-got; !bytes.Equal(b, big) {
				t.Fatalf("peer got %d bytes, not what was written", len(b))
			}

			w.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			if _, err := w.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("read past deadline: %v", err)
			}
			w.SetReadDeadline(time.Time{})

			peer.Close()
			if n, err := w.Read(buf); n != 0 || err != io.EOF {
				t.Fatalf("read after peer closed: %d %v", n, err)
			}
		})
	}
	t.Run("CloseUnblocksRead", func(t *testing.T) {
		w, _ := pair(t, "tcp")
		done := make(chan error, 1)
		go func() {
			_, err := w.Read(make([]byte, 10))
			done <- err
		}()
		time.Sleep(20 * time.Millisecond)
		w.Close()
		select {
		case err := <-done:
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("read on closed conn: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not end the Read")
		}
	})
}

// TestWrapOther: anything but a TCP or Unix socket is returned as is.
func TestWrapOther(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if Wrap(a) != a {
		t.Error("a pipe was wrapped")
	}
}
