package cluster

import (
	"context"
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

	"google.golang.org/grpc/credentials"

	"github.com/mosaicdb/mosaic/mtls"
	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/tablet/mysqlctl"
	"github.com/mosaicdb/mosaic/tablet/tablettest"
	"github.com/mosaicdb/mosaic/tablet/tmclient"
	"github.com/mosaicdb/mosaic/testports"
	"github.com/mosaicdb/mosaic/topo"
)

// BuildMosaic builds the mosaic binary into a temp dir once per test and
// returns its path.
func BuildMosaic(t testing.TB) string {
	t.Helper()
	return build(t, "mosaic")
}

// BuildMosaicctl builds the mosaicctl binary like BuildMosaic.
func BuildMosaicctl(t testing.TB) string {
	t.Helper()
	return build(t, "mosaicctl")
}

func build(t testing.TB, name string) string {
	bin := filepath.Join(t.TempDir(), name)
	out, err := exec.Command("go", "build", "-o", bin, "github.com/mosaicdb/mosaic/cmd/"+name).CombinedOutput()
	if err != nil {
		t.Fatalf("build %s: %v\n%s", name, err, out)
	}
	return bin
}

// ProcTablet is a tablet run as a child process of the test (`mosaic
// tablet`), so that a test can kill -9 its agent and its mysqld, and start
// it again on the same dir and ports as a supervisor would.
type ProcTablet struct {
	Alias       *topodatapb.TabletAlias
	AliasString string
	Keyspace    string
	Shard       string
	Dir         string
	GRPCPort    int
	HTTPPort    int
	MySQLPort   int
	// Creds are what Dial and WaitHealth call the tablet with (an
	// operator's certificate, or plaintext).
	Creds credentials.TransportCredentials

	bin  string
	args []string
	log  string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// StartProcTablet starts `mosaic tablet` for keyspace/shard on free ports,
// with the certificates of sec and extra flags, and stops it (SIGTERM)
// when the test ends. It does not wait for it to serve (WaitHealth does).
func StartProcTablet(t testing.TB, bin, topoAddr string, sec Security, keyspace, shard string, extra ...string) *ProcTablet {
	t.Helper()
	ports, err := testports.Free(3)
	if err != nil {
		t.Fatal(err)
	}
	// Short: unix socket paths are limited.
	dir, err := os.MkdirTemp("", "mosaic-proc-")
	if err != nil {
		t.Fatal(err)
	}
	// mariadbd's system user passes through (MkdirTemp makes it 0700).
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	secrets := filepath.Join(dir, "secrets.yaml")
	if err := mysqlctl.WriteSecretsFile(secrets, tablettest.Secrets()); err != nil {
		t.Fatal(err)
	}
	alias := &topodatapb.TabletAlias{Cell: "zone1", Uid: uint32(ports[2])}
	p := &ProcTablet{
		Alias: alias, AliasString: topo.AliasString(alias), Keyspace: keyspace, Shard: shard,
		Dir: filepath.Join(dir, "t"), GRPCPort: ports[0], HTTPPort: ports[1], MySQLPort: ports[2], bin: bin,
		log: filepath.Join(dir, "tablet.log"), Creds: sec.Creds(t, mtls.RoleOperator),
	}
	p.args = append([]string{"tablet",
		"--alias", p.AliasString, "--keyspace", keyspace, "--shard", shard,
		"--tablet-dir", p.Dir, "--template-dir", mysqlctl.SharedTemplateDir(),
		"--grpc-port", strconv.Itoa(ports[0]), "--http-port", strconv.Itoa(ports[1]), "--mysql-port", strconv.Itoa(ports[2]),
		"--topo-endpoints", topoAddr, "--innodb-buffer-pool-size", "32M",
		"--health-interval", "500ms", "--log-level", "info", "--secrets-file", secrets,
	}, append(sec.Flags(), extra...)...)
	p.Start(t)
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("log of tablet %s (%s):\n%s", p.AliasString, p.log, tail(p.log, 150))
		}
		os.RemoveAll(dir)
	})
	return p
}

// Start starts the tablet process (again); it must not be running.
func (p *ProcTablet) Start(t testing.TB) {
	t.Helper()
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); f.Close(); close(done) }()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
}

// Kill9 kills the tablet's mysqld and its agent with SIGKILL at once, as
// a machine that loses both would: no goodbye, no clean shutdown. It
// waits until both are gone.
func (p *ProcTablet) Kill9(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	mysqldPID := p.MysqldPID()
	if mysqldPID > 0 {
		_ = syscall.Kill(mysqldPID, syscall.SIGKILL)
	}
	_ = cmd.Process.Kill()
	<-done
	for i := 0; mysqldPID > 0 && i < 200; i++ {
		if syscall.Kill(mysqldPID, 0) != nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	if mysqldPID > 0 && syscall.Kill(mysqldPID, 0) == nil {
		t.Fatalf("mysqld %d of %s survived SIGKILL", mysqldPID, p.AliasString)
	}
}

// MysqldPID returns the pid of the tablet's mysqld (from its pid file),
// or 0 when there is none.
func (p *ProcTablet) MysqldPID() int {
	data, err := os.ReadFile(filepath.Join(p.Dir, "run", "mysqld.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid
}

// PID returns the pid of the agent process.
func (p *ProcTablet) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd.Process.Pid
}

// Signal sends sig to the agent process (SIGSTOP, SIGCONT...).
func (p *ProcTablet) Signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd.Process.Signal(sig)
}

// Stop stops the tablet with SIGTERM (a clean stop) and waits; a stopped
// tablet is left alone.
func (p *ProcTablet) Stop() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGCONT)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// WaitHealth waits until a health message of the tablet satisfies ok.
func (p *ProcTablet) WaitHealth(ctx context.Context, ok func(*querypb.StreamHealthResponse) bool) error {
	c, err := tmclient.Dial(net.JoinHostPort("127.0.0.1", strconv.Itoa(p.GRPCPort)), p.Creds)
	if err != nil {
		return err
	}
	defer c.Close()
	var last *querypb.StreamHealthResponse
	var lastErr error
	for ctx.Err() == nil {
		st, err := c.Query.StreamHealth(ctx, &querypb.StreamHealthRequest{})
		if err == nil {
			for {
				h, err := st.Recv()
				if err != nil {
					lastErr = err
					break
				}
				last = h
				if ok(h) {
					return nil
				}
			}
		} else {
			lastErr = err
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
		}
	}
	return fmt.Errorf("%w: tablet %s: last health %v, last error %v", ctx.Err(), p.AliasString, last, lastErr)
}

// Dial returns a client of the tablet; the caller closes it.
func (p *ProcTablet) Dial() (*tmclient.Client, error) {
	return tmclient.Dial(net.JoinHostPort("127.0.0.1", strconv.Itoa(p.GRPCPort)), p.Creds)
}

// ProcShard is a shard of ProcTablets.
type ProcShard struct {
	Keyspace, Shard string
	Tablets         []*ProcTablet
}

// StartProcShard starts 1+replicas tablet processes with the
// certificates of sec, makes the first one primary (InitShardPrimary),
// rebuilds the serving graph and waits until every tablet serves in its
// role.
func StartProcShard(t testing.TB, bin, topoAddr string, ts *topo.Server, sec Security, keyspace, shard string, replicas int, extra ...string) *ProcShard {
	t.Helper()
	s := &ProcShard{Keyspace: keyspace, Shard: shard}
	for i := 0; i <= replicas; i++ {
		s.Tablets = append(s.Tablets, StartProcTablet(t, bin, topoAddr, sec, keyspace, shard, extra...))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, p := range s.Tablets {
		if err := p.WaitHealth(ctx, func(h *querypb.StreamHealthResponse) bool { return h.Serving }); err != nil {
			t.Fatal(err)
		}
	}
	if err := tmclient.InitShardPrimary(ctx, ts, sec.Creds(t, mtls.RoleOperator), keyspace, shard, s.Tablets[0].Alias, nil); err != nil {
		t.Fatalf("init shard primary: %v", err)
	}
	if err := ts.RebuildSrvKeyspace(ctx, "zone1", keyspace); err != nil {
		t.Fatal(err)
	}
	for i, p := range s.Tablets {
		primary := i == 0
		if err := p.WaitHealth(ctx, func(h *querypb.StreamHealthResponse) bool {
			if primary {
				return h.Serving && h.Target.TabletType == topodatapb.TabletType_PRIMARY
			}
			return h.Serving && h.RealtimeStats.GetReplicationRunning()
		}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// Tablet returns the shard's tablet with alias.
func (s *ProcShard) Tablet(alias *topodatapb.TabletAlias) *ProcTablet {
	for _, p := range s.Tablets {
		if p.AliasString == topo.AliasString(alias) {
			return p
		}
	}
	return nil
}

func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
