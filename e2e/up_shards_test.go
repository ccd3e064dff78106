package e2e

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/mtls"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/topo"
	"github.com/mosaicdb/mosaic/topo/etcdstore"
	"github.com/mosaicdb/mosaic/topo/etcdstore/etcdtest"
)

// TestMosaicUpShards runs `mosaic up` and changes its shards with
// mosaicctl: new shards of customer get tablets started by mosaic up,
// with a primary, but serve nothing (the gate keeps routing to -80 and
// 80-); a serving shard cannot be deleted; deleting the new ones stops
// their tablets and removes their records.
func TestMosaicUpShards(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a whole local cluster")
	}
	dir := t.TempDir()
	bins := map[string]string{}
	for _, name := range []string{"mosaic", "mosaicctl"} {
		bins[name] = filepath.Join(dir, name)
		build := exec.Command("go", "build", "-o", bins[name], "github.com/mosaicdb/mosaic/cmd/"+name)
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", name, err, out)
		}
	}
	dataDir := traversableTempDir(t)
	etcdPort := freePortPair(t)
	gatePort := etcdtest.FreePort(t)
	httpPort := etcdtest.FreePort(t)
	offset := freeTabletPortOffset(t)
	etcdAddr := fmt.Sprintf("127.0.0.1:%d", etcdPort)
	cmd := exec.Command(bins["mosaic"], "up", "--log-format", "json", "--data-dir", dataDir, "--replicas", "0",
		"--etcd-port", fmt.Sprint(etcdPort), "--gate-port", fmt.Sprint(gatePort),
		"--gate-http-port", fmt.Sprint(httpPort), "--tablet-port-offset", fmt.Sprint(offset))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	up, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(out)
		seen := false
		for sc.Scan() {
			if !seen && strings.Contains(sc.Text(), "Mosaic is up.") {
				seen = true
				close(up)
			}
		}
		io.Copy(io.Discard, out)
	}()
	select {
	case <-up:
	case <-exited:
		t.Fatal("mosaic up ended before it was up (its stderr is above)")
	case <-time.After(3 * time.Minute):
		t.Fatal("mosaic up did not come up in 3 minutes")
	}
	// The operator's certificate of the cluster mosaic up made.
	certDir := filepath.Join(dataDir, "certs")
	ecfg := etcdstore.DefaultConfig()
	ecfg.Endpoints = []string{etcdAddr}
	if ecfg.TLS, err = mtls.Load(mtls.DirFiles(certDir, mtls.RoleOperator), nil); err != nil {
		t.Fatal(err)
	}
	store, err := etcdstore.New(ecfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ts := topo.NewServer(store)
	ctl := func(args ...string) (string, error) {
		c := exec.Command(bins["mosaicctl"], append([]string{"--topo-endpoints", etcdAddr, "--cert-dir", certDir}, args...)...)
		b, err := c.CombinedOutput()
		return string(b), err
	}

	db := openDirect(t, fmt.Sprintf("root@tcp(127.0.0.1:%d)/customer?interpolateParams=true", gatePort))
	mustExec(t, db, "create table customer (customer_id bigint primary key, name varchar(20))")
	mustExec(t, db, "insert into customer (customer_id, name) values (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd')")

	if out, err := ctl("shard", "create", "--keyspace", "customer", "--shards", "-40,40-80"); err != nil || !strings.Contains(out, "serving nothing") {
		t.Fatalf("shard create: %v\n%s", err, out)
	}
	// mosaic up starts a tablet for each and makes it its primary.
	ctx := t.Context()
	newShards := []string{"-40", "40-80"}
	aliases := map[string]*topodatapb.TabletAlias{}
	deadline := time.Now().Add(3 * time.Minute)
	for _, sh := range newShards {
		for {
			rec, _, err := ts.GetShard(ctx, "customer", sh)
			if err == nil && rec.PrimaryAlias != nil {
				aliases[sh] = rec.PrimaryAlias
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("shard %s got no primary from mosaic up: %v %v", sh, rec, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	if aliases["-40"].Uid < 400 || aliases["40-80"].Uid < 400 || aliases["-40"].Uid == aliases["40-80"].Uid {
		t.Fatalf("new tablets' uids %v collide with the first layout's", aliases)
	}
	// They serve nothing: the gate does not route to them (they have no
	// table customer: a read there would fail).
	for i := 0; i < 20; i++ {
		var n int
		if err := db.QueryRowContext(ctx, "select count(*) from customer").Scan(&n); err != nil || n != 4 {
			t.Fatalf("scatter count through the gate = %d, %v", n, err)
		}
	}
	show, err := ctl("keyspace", "show", "customer")
	if err != nil {
		t.Fatalf("keyspace show: %v\n%s", err, show)
	}
	for _, want := range []string{"primary      -80,80-", "-40    zone1-", "nothing"} {
		if !strings.Contains(show, want) {
			t.Errorf("keyspace show lacks %q:\n%s", want, show)
		}
	}

	if out, err := ctl("shard", "delete", "--keyspace", "customer", "--shards", "-80"); err == nil || !strings.Contains(out, "serves") {
		t.Fatalf("delete of a serving shard: %v\n%s", err, out)
	}
	if out, err := ctl("shard", "delete", "--keyspace", "customer", "--shards", "-40,40-80"); err != nil {
		t.Fatalf("shard delete: %v\n%s", err, out)
	}
	// Their tablets stop and their records go.
	for sh, alias := range aliases {
		for {
			_, err := ts.GetTablet(ctx, alias)
			procs, _ := exec.Command("pgrep", "-f", filepath.Join(dataDir, "tablets", topo.AliasString(alias))+"/").Output()
			if err != nil && len(strings.TrimSpace(string(procs))) == 0 {
				break
			}
			if time.Now().After(deadline.Add(time.Minute)) {
				t.Fatalf("tablet %s of deleted shard %s: record %v, processes %q", topo.AliasString(alias), sh, err, procs)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	var n int
	if err := db.QueryRowContext(ctx, "select count(*) from customer").Scan(&n); err != nil || n != 4 {
		t.Fatalf("after the delete: count = %d, %v", n, err)
	}

	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("mosaic up did not stop in 2 minutes after SIGINT")
	}
	procs, _ := exec.Command("pgrep", "-f", dataDir).Output()
	if len(strings.TrimSpace(string(procs))) > 0 {
		t.Fatalf("processes of the cluster still run after stop: %s", procs)
	}

}
