package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/e2e/cluster"
	"github.com/mosaicdb/mosaic/mtls/mtlstest"
	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/topo"
	"github.com/mosaicdb/mosaic/topo/etcdstore/etcdtest"
)

// TestStopWithoutTopo: every Mosaic process stops on SIGTERM within a
// bounded time when etcd is gone. A shard of two tablet processes, a gate
// and a failure detector run against an etcd that is then stopped; once
// the primary has lost its lease (and fenced itself), each gets SIGTERM
// and must exit within 20 seconds, leaving no mariadbd behind.
func TestStopWithoutTopo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs tablet processes")
	}
	bin := cluster.BuildMosaic(t)
	sec := cluster.Security{Certs: mtlstest.New(t)}
	addr, stopEtcd := etcdtest.StartStoppable(t, sec.Certs)
	ts := topo.NewServer(etcdtest.NewSecureStoreAt(t, addr, "/mosaic", sec.Certs))
	ctx := t.Context()
	if err := ts.CreateKeyspace(ctx, "commerce", &topodatapb.Keyspace{}); err != nil {
		t.Fatal(err)
	}
	if err := ts.CreateShard(ctx, "commerce", "0"); err != nil {
		t.Fatal(err)
	}
	shard := cluster.StartProcShard(t, bin, addr, ts, sec, "commerce", "0", 1, "--primary-lease-ttl", "2s")

	logDir := t.TempDir()
	others := map[string]*exec.Cmd{}
	gatePort, failoverPort := etcdtest.FreePort(t), etcdtest.FreePort(t)
	for name, args := range map[string][]string{
		"gate":     {"gate", "--mysql-port", fmt.Sprint(gatePort), "--http-port", fmt.Sprint(etcdtest.FreePort(t)), "--topo-endpoints", addr},
		"failover": {"failover", "--topo-endpoints", addr, "--http-port", fmt.Sprint(failoverPort), "--startup-grace", "0s"},
	} {
		f, err := os.Create(filepath.Join(logDir, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, append(args, sec.Flags()...)...)
		cmd.Stdout, cmd.Stderr = f, f
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); f.Close() })
		others[name] = cmd
	}
	if err := waitListening(ctx, gatePort, time.Minute); err != nil {
		t.Fatal(err)
	}
	// The failure detector has read the topology once it counts the
	// shard healthy.
	metrics := fmt.Sprintf("http://127.0.0.1:%d/metrics", failoverPort)
	deadline := time.Now().Add(time.Minute)
	for {
		var body []byte
		if resp, err := http.Get(metrics); err == nil {
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		if strings.Contains(string(body), `mosaic_failover_shards{state="healthy"} 1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the failure detector does not see the shard healthy:\n%s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}

	stopEtcd()
	// The primary loses its lease and fences itself; the failure detector
	// sees the lease go and tries to fail the shard over (it waits for
	// the shard lock).
	primary := shard.Tablets[0]
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := primary.WaitHealth(wctx, func(h *querypb.StreamHealthResponse) bool {
		return h.Target.GetTabletType() != topodatapb.TabletType_PRIMARY
	}); err != nil {
		t.Fatal(err)
	}
	for {
		data, _ := os.ReadFile(filepath.Join(logDir, "failover.log"))
		if strings.Contains(string(data), "primary is down; failing over") {
			break
		}
		if wctx.Err() != nil {
			t.Fatalf("the failure detector did not try a failover:\n%s", data)
		}
		time.Sleep(100 * time.Millisecond)
	}

	type stopped struct {
		name string
		took time.Duration
	}
	start := time.Now()
	results := make(chan stopped, 4)
	for _, p := range shard.Tablets {
		go func() { p.Stop(); results <- stopped{p.AliasString, time.Since(start)} }()
	}
	for name, cmd := range others {
		cmd.Process.Signal(syscall.SIGTERM)
		go func() { cmd.Wait(); results <- stopped{name, time.Since(start)} }()
	}
	for i := 0; i < 4; i++ {
		var r stopped
		select {
		case r = <-results:
		case <-time.After(2 * time.Minute):
			t.Fatal("processes still run 2 minutes after SIGTERM")
		}
		t.Logf("%s stopped after %v", r.name, r.took)
		if r.took > 20*time.Second {
			t.Errorf("%s took %v to stop on SIGTERM without etcd", r.name, r.took)
		}
	}
	for _, p := range shard.Tablets {
		out, _ := exec.Command("pgrep", "-f", p.Dir).Output()
		if s := strings.TrimSpace(string(out)); s != "" {
			t.Errorf("processes of %s still run: %s", p.AliasString, s)
		}
	}
	if t.Failed() {
		for name := range others {
			data, _ := os.ReadFile(filepath.Join(logDir, name+".log"))
			t.Logf("%s log:\n%s", name, data)
		}
	}
}

// waitListening waits until something accepts connections on port.
func waitListening(ctx context.Context, port int, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("nothing listens on port %d after %v: %w", port, within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
