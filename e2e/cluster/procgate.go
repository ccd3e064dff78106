package cluster

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/mosaicdb/mosaic/testports"
)

// ProcGate is a gate run as a child process of the test (`mosaic gate`),
// so that a test can kill it with SIGKILL in the middle of anything and
// start it again on the same port, as a supervisor would.
type ProcGate struct {
	// Addr is the gate's MySQL address.
	Addr string
	// HTTPAddr is its HTTP address (/metrics, /debug/pprof).
	HTTPAddr string

	bin  string
	args []string
	log  string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// StartProcGate starts `mosaic gate` (bin is BuildMosaic's) on the
// cluster's topology, on free ports, with the cluster's certificates and
// extra flags; it is stopped
// (SIGTERM) when the test ends. It does not wait for the gate to route
// (WaitReady does).
func (c *Cluster) StartProcGate(t testing.TB, bin string, extra ...string) *ProcGate {
	t.Helper()
	ports, err := testports.Free(2)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	g := &ProcGate{
		Addr:     net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])),
		HTTPAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1])),
		bin:      bin,
		log:      filepath.Join(dir, "gate.log"),
	}
	g.args = append([]string{"gate",
		"--topo-endpoints", c.TopoAddr, "--mysql-host", "127.0.0.1",
		"--mysql-port", strconv.Itoa(ports[0]), "--http-port", strconv.Itoa(ports[1]),
		"--log-level", "info",
	}, append(c.Security.Flags(), extra...)...)
	g.Start(t)
	t.Cleanup(func() {
		g.Stop()
		if t.Failed() {
			t.Logf("log of gate %s (%s):\n%s", g.Addr, g.log, tail(g.log, 100))
		}
	})
	return g
}

// Start starts the gate process (again); it must not be running.
func (g *ProcGate) Start(t testing.TB) {
	t.Helper()
	f, err := os.OpenFile(g.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(g.bin, g.args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); f.Close(); close(done) }()
	g.mu.Lock()
	g.cmd, g.done = cmd, done
	g.mu.Unlock()
}

// Pid returns the pid of the gate process (the last one started).
func (g *ProcGate) Pid() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cmd.Process.Pid
}

// Exited returns a channel closed once the gate process (the last one
// started) has exited.
func (g *ProcGate) Exited() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.done
}

// Kill9 kills the gate with SIGKILL, mid-whatever, and waits until it is
// gone.
func (g *ProcGate) Kill9() {
	g.mu.Lock()
	cmd, done := g.cmd, g.done
	g.mu.Unlock()
	_ = cmd.Process.Kill()
	<-done
}

// Stop stops the gate with SIGTERM and waits; a stopped gate is left
// alone.
func (g *ProcGate) Stop() {
	g.mu.Lock()
	cmd, done := g.cmd, g.done
	g.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// DSN returns a go-sql-driver DSN to the gate for keyspace.
func (g *ProcGate) DSN(keyspace string) string {
	cfg := mysql.NewConfig()
	cfg.User = "root"
	cfg.Net = "tcp"
	cfg.Addr = g.Addr
	cfg.DBName = keyspace
	cfg.InterpolateParams = true
	return cfg.FormatDSN()
}

// WaitReady waits until query, run through the gate on keyspace,
// succeeds: the gate is up and routes to the shards query reaches.
func (g *ProcGate) WaitReady(ctx context.Context, keyspace, query string) error {
	db, err := sql.Open("mysql", g.DSN(keyspace))
	if err != nil {
		return err
	}
	defer db.Close()
	var last error
	for {
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		rows, err := db.QueryContext(qctx, query)
		if err == nil {
			rows.Close()
			cancel()
			return nil
		}
		cancel()
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("gate %s not ready: %w (last error: %v)", g.Addr, ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// LogLines returns the lines of the gate's log (every run of it) that
// contain s.
func (g *ProcGate) LogLines(s string) ([]string, error) {
	b, err := os.ReadFile(g.log)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out, nil
}
