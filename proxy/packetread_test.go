package proxy

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/mosaicdb/mosaic/sqlerr"
)

func header(n int, seq byte) []byte { return []byte{byte(n), byte(n >> 8), byte(n >> 16), seq} }

// rawLogin connects and logs in as root with a raw socket, returning it
// ready for a command (the go-mysql client hides what a test needs to
// send here).
func rawLogin(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := readRaw(c); err != nil {
		t.Fatalf("greeting: %v", err)
	}
	caps := uint32(mysql.CLIENT_PROTOCOL_41 | mysql.CLIENT_SECURE_CONNECTION | mysql.CLIENT_PLUGIN_AUTH)
	b := binary.LittleEndian.AppendUint32(nil, caps)
	b = binary.LittleEndian.AppendUint32(b, 1<<24)
	b = append(b, 45)
	b = append(b, make([]byte, 23)...)
	b = append(b, "root\x00"...)
	b = append(b, 0) // empty password
	b = append(b, "mysql_native_password\x00"...)
	c.Write(append(header(len(b), 1), b...))
	ok, err := readRaw(c)
	if err != nil || len(ok) == 0 || ok[0] != 0 {
		t.Fatalf("login: % x, %v", ok, err)
	}
	return c
}

// readRaw reads one packet's payload.
func readRaw(c net.Conn) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(c, h[:]); err != nil {
		return nil, err
	}
	b := make([]byte, int(h[0])|int(h[1])<<8|int(h[2])<<16)
	_, err := io.ReadFull(c, b)
	return b, err
}

// errCode returns the code of an ERR packet, 0 for anything else.
func errCode(b []byte) uint16 {
	if len(b) < 3 || b[0] != 0xff {
		return 0
	}
	return binary.LittleEndian.Uint16(b[1:])
}

// waitClosed reads c until the gate closes it, returning how long that
// took and the last packet read.
func waitClosed(t *testing.T, c net.Conn, within time.Duration) (time.Duration, []byte) {
	t.Helper()
	start := time.Now()
	c.SetReadDeadline(start.Add(within))
	var last []byte
	for {
		b, err := readRaw(c)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the gate kept the connection open for %v", within)
			}
			return time.Since(start), last
		}
		last = b
	}
}

func TestGateConnectionLimits(t *testing.T) {
	tg := startTestGate(t, func(c *Config) {
		c.ConnectTimeout = 500 * time.Millisecond
		c.NetReadTimeout = 500 * time.Millisecond
		c.MaxAllowedPacket = 4096
		c.MaxConnections = 20
	})
	t.Run("PreAuthHugeHeader", func(t *testing.T) {
		c, err := net.Dial("tcp", tg.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		readRaw(c)
		c.Write(header(1<<24-1, 1))
		c.Write(make([]byte, 1000))
		took, last := waitClosed(t, c, 5*time.Second)
		if took > 400*time.Millisecond {
			t.Errorf("closed after %v: it waited for the claimed bytes", took)
		}
		if errCode(last) != sqlerr.ERHandshakeError {
			t.Errorf("last packet % x, want error 1043", last)
		}
	})
	t.Run("ConnectTimeout", func(t *testing.T) {
		c, err := net.Dial("tcp", tg.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		readRaw(c)
		c.Write([]byte{100, 0, 0, 1, 1, 2}) // half a handshake response
		if took, _ := waitClosed(t, c, 5*time.Second); took < 400*time.Millisecond {
			t.Errorf("closed after %v, before the connect timeout", took)
		}
	})
	t.Run("HalfSentPacket", func(t *testing.T) {
		c := rawLogin(t, tg.addr)
		c.Write([]byte{100, 0, 0, 0, mysql.COM_QUERY, 's'})
		took, _ := waitClosed(t, c, 5*time.Second)
		if took < 400*time.Millisecond {
			t.Errorf("closed after %v, before the net read timeout", took)
		}
	})
	t.Run("IdleIsNotHalfSent", func(t *testing.T) {
		// Between commands only the idle timeout (none here) applies.
		c := rawLogin(t, tg.addr)
		time.Sleep(800 * time.Millisecond) // past the net read timeout: nothing may happen
		c.Write(append(header(1, 0), mysql.COM_PING))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if b, err := readRaw(c); err != nil || len(b) == 0 || b[0] != 0 {
			t.Fatalf("PING after an idle spell: % x, %v", b, err)
		}
	})
	t.Run("TooLarge", func(t *testing.T) {
		c := rawLogin(t, tg.addr)
		c.Write(append(header(10000, 0), mysql.COM_QUERY))
		c.Write(make([]byte, 9999))
		if _, last := waitClosed(t, c, 5*time.Second); errCode(last) != sqlerr.ERNetPacketTooLarge {
			t.Fatalf("last packet % x, want error 1153", last)
		}
	})
	t.Run("OutOfOrder", func(t *testing.T) {
		c := rawLogin(t, tg.addr)
		c.Write(append(header(1, 5), mysql.COM_PING))
		if _, last := waitClosed(t, c, 5*time.Second); errCode(last) != sqlerr.ERPacketsOutOfOrder {
			t.Fatalf("last packet % x, want error 1156", last)
		}
	})
	t.Run("TooManyConnections", func(t *testing.T) {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		waitFor(t, 5*time.Second, "the other subtests' connections to go", func() bool { return tg.g.connCount.Load() == 0 })
		for range 20 {
			c, err := net.Dial("tcp", tg.addr)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
			if b, err := readRaw(c); err != nil || b[0] != 10 {
				t.Fatalf("greeting: % x, %v", b, err)
			}
		}
		c, err := net.Dial("tcp", tg.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		var h [4]byte
		io.ReadFull(c, h[:])
		b := make([]byte, int(h[0]))
		io.ReadFull(c, b)
		// As mysqld sends it: sequence 0, no SQLSTATE.
		if want := "\xff\x10\x04Too many connections"; string(b) != want || h[3] != 0 {
			t.Fatalf("got %q (sequence %d), want %q", b, h[3], want)
		}
	})
}
