package tablet

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
	"github.com/mosaicdb/mosaic/tablet/mysqlctl"
	"github.com/mosaicdb/mosaic/testports"
)

// freezableServer speaks just enough of the MySQL protocol to let a
// client log in and to answer every query with OK, and can be frozen like
// a mysqld under SIGSTOP: while frozen it neither greets new connections
// nor answers queries, which wait for the thaw.
type freezableServer struct {
	l net.Listener

	mu     sync.Mutex
	frozen chan struct{} // non-nil while frozen; closed by thaw
}

func startFreezableServer(t *testing.T) *freezableServer {
	t.Helper()
	l, err := testports.Listen()
	if err != nil {
		t.Fatal(err)
	}
	s := &freezableServer{l: l}
	var wg sync.WaitGroup
	var conns []net.Conn
	var connsMu sync.Mutex
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			connsMu.Lock()
			conns = append(conns, c)
			connsMu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		s.thaw()
		l.Close()
		connsMu.Lock()
		for _, c := range conns {
			c.Close()
		}
		connsMu.Unlock()
		wg.Wait()
	})
	return s
}

// serve greets, takes any login and answers each command with OK.
func (s *freezableServer) serve(c net.Conn) {
	s.wait()
	var caps uint32 = 1 | 2 | 4 | 8 | 0x80 | 0x200 | 0x2000 | 0x8000 | 1<<16 | 1<<17 | 1<<19
	g := []byte{10}
	g = append(g, "10.11.0-fake"...)
	g = append(g, 0, 1, 0, 0, 0)
	g = append(g, "abcdefgh"...)
	g = append(g, 0, byte(caps), byte(caps>>8), 45, 2, 0, byte(caps>>16), byte(caps>>24), 21)
	g = append(g, make([]byte, 10)...)
	g = append(g, "ijklmnopqrst"...)
	g = append(g, 0)
	g = append(g, "mysql_native_password"...)
	g = append(g, 0)
	if writePacket(c, 0, g) != nil {
		return
	}
	if _, err := readPacket(c); err != nil {
		return
	}
	ok := []byte{0, 0, 0, 2, 0, 0, 0}
	if writePacket(c, 2, ok) != nil {
		return
	}
	for {
		if _, err := readPacket(c); err != nil {
			return
		}
		s.wait()
		if writePacket(c, 1, ok) != nil {
			return
		}
	}
}

func writePacket(c net.Conn, seq byte, payload []byte) error {
	n := len(payload)
	_, err := c.Write(append([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}, payload...))
	return err
}

func readPacket(c net.Conn) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(c, h[:]); err != nil {
		return nil, err
	}
	b := make([]byte, int(h[0])|int(h[1])<<8|int(h[2])<<16)
	_, err := io.ReadFull(c, b)
	return b, err
}

func (s *freezableServer) freeze() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.frozen == nil {
		s.frozen = make(chan struct{})
	}
}

func (s *freezableServer) thaw() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.frozen != nil {
		close(s.frozen)
		s.frozen = nil
	}
}

func (s *freezableServer) wait() {
	s.mu.Lock()
	ch := s.frozen
	s.mu.Unlock()
	if ch != nil {
		<-ch
	}
}

// probeWithin runs one probe and checks how long it took.
func probeWithin(t *testing.T, p *mysqldProbe, atMost time.Duration) (time.Duration, error) {
	t.Helper()
	start := time.Now()
	err := p.probe(t.Context())
	took := time.Since(start)
	if took > atMost {
		t.Fatalf("probe took %v, want at most %v (err %v)", took, atMost, err)
	}
	return took, err
}

// The probe says a mysqld answers while it does, and that it does not
// within its timeout once it stops answering: a query already sent on the
// kept connection, and a new connection whose greeting never comes.
func TestMysqldProbeStuckServer(t *testing.T) {
	s := startFreezableServer(t)
	const timeout = 700 * time.Millisecond
	p := &mysqldProbe{params: mysqlconn.Params{Addr: s.l.Addr().String(), User: "root"}, timeout: timeout}
	defer p.close()
	if _, err := probeWithin(t, p, 5*time.Second); err != nil {
		t.Fatalf("probe of an answering server: %v", err)
	}
	s.freeze()
	for i := 0; i < 2; i++ {
		// First on the kept connection, then on a new one.
		took, err := probeWithin(t, p, timeout+2*time.Second)
		if err == nil {
			t.Fatalf("probe %d of a frozen server succeeded", i)
		}
		if took < timeout/2 {
			t.Fatalf("probe %d of a frozen server failed after %v, before its timeout: %v", i, took, err)
		}
		if !strings.Contains(err.Error(), "no answer to the health query within") {
			t.Errorf("probe %d error %q does not say it timed out", i, err)
		}
	}
	s.thaw()
	if _, err := probeWithin(t, p, 5*time.Second); err != nil {
		t.Fatalf("probe after the thaw: %v", err)
	}
}

// A listener that accepts and never says a word (a stopped mysqld's
// socket: the kernel completes the connection) fails the probe within its
// timeout, and a probe ends with its parent context.
func TestMysqldProbeSilentListener(t *testing.T) {
	l, err := testports.Listen()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	p := &mysqldProbe{params: mysqlconn.Params{Addr: l.Addr().String(), User: "root"}, timeout: 500 * time.Millisecond}
	defer p.close()
	if _, err := probeWithin(t, p, 3*time.Second); err == nil {
		t.Fatal("probe of a silent listener succeeded")
	}
	p.timeout = time.Hour
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := p.probe(ctx); err == nil {
		t.Fatal("probe of a silent listener succeeded")
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("probe outlived its parent context by %v", took)
	}
}

// A tablet serves only while its mysqld runs and answers; a mysqld that
// runs but does not answer (stopped, stuck) stops a primary from serving,
// and the health says it is mysqld's fault and why.
func TestServingVerdict(t *testing.T) {
	primary := healthFacts{mysqld: mysqlctl.Running, ready: true, tabletType: topodatapb.TabletType_PRIMARY}
	hung := primary
	hung.unanswered = errors.New("no answer to the health query within 2s")
	crashed := primary
	crashed.mysqld, crashed.mysqldErr = mysqlctl.Crashed, errors.New("signal: killed")
	fenced := primary
	fenced.notServing = "fenced: lost the primary lease"
	for _, c := range []struct {
		name  string
		facts healthFacts
		want  verdict
	}{
		{"answering primary", primary, verdict{serving: true}},
		{"hung mysqld", hung, verdict{reason: "mysqld does not answer: no answer to the health query within 2s", mysqldProblem: true}},
		{"crashed mysqld", crashed, verdict{reason: "mysqld is crashed: signal: killed", mysqldProblem: true}},
		{"fenced", fenced, verdict{reason: "fenced: lost the primary lease"}},
	} {
		if got := servingVerdict(c.facts); got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
}
