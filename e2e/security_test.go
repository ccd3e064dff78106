package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/mosaicdb/mosaic/e2e/cluster"
	"github.com/mosaicdb/mosaic/mtls"
	"github.com/mosaicdb/mosaic/mtls/mtlstest"
	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/tablet/reparent"
	"github.com/mosaicdb/mosaic/tablet/tablettest"
	"github.com/mosaicdb/mosaic/tablet/tmclient"
	"github.com/mosaicdb/mosaic/topo/etcdstore"
	"github.com/mosaicdb/mosaic/topo/etcdstore/etcdtest"
)

// registryValue sums the samples of a counter or gauge named name whose
// labels include want.
func registryValue(t *testing.T, reg prometheus.Gatherer, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			ok := true
			for k, v := range want {
				found := false
				for _, l := range m.GetLabel() {
					found = found || (l.GetName() == k && l.GetValue() == v)
				}
				ok = ok && found
			}
			if ok {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// selectOne runs SELECT 1 on the tablet with Query.Execute, as a gate
// does.
func selectOne(ctx context.Context, c *tmclient.Client, tb *tablettest.Tablet) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := c.Query.Execute(ctx, &querypb.ExecuteRequest{Target: tb.Target(topodatapb.TabletType_PRIMARY), Sql: "SELECT 1"})
	return err
}

// dialAs returns a client of the tablet at addr with creds, closed when
// the test ends.
func dialAs(t *testing.T, addr string, creds credentials.TransportCredentials, opts ...grpc.DialOption) *tmclient.Client {
	t.Helper()
	c, err := tmclient.Dial(addr, creds, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// wantDenied fails unless err is the tablet's refusal of the caller's role.
func wantDenied(t *testing.T, what string, err error) {
	t.Helper()
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("%s: %v, want PermissionDenied", what, err)
	}
}

// TestSecurity runs a secure cluster (the default of package cluster: one
// CA, mTLS between every component, etcd with client certificates) and
// checks what a stranger and each role may do on a tablet and on etcd.
func TestSecurity(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	c := cluster.Start(t, cluster.Options{
		Keyspaces: []cluster.Keyspace{{Name: "commerce"}},
		Replicas:  1,
	})
	ca := c.Security.Certs
	foreign := mtlstest.New(t)
	sh := c.Shards["commerce"]["0"]
	primary := sh.Primary()
	ctx := t.Context()
	reg := primary.Agent.Registry()

	// The gate's MySQL port is for applications, as before.
	db := c.DB(t, "commerce")
	mustExec(t, db, "CREATE TABLE sec (id INT PRIMARY KEY)")
	mustExec(t, db, "INSERT INTO sec VALUES (1)")

	// The HTTP status ports answer anyone who reaches them: they must not
	// show what a statement carried, nor a command line (which may hold
	// a password).
	t.Run("StatusPagesHoldNoSecrets", func(t *testing.T) {
		const secret = "Secr3tM4rk"
		mustExec(t, db, "CREATE TABLE secrets (id INT PRIMARY KEY, v VARCHAR(64))")
		for i := range 3 {
			mustExec(t, db, fmt.Sprintf("INSERT INTO secrets VALUES (%d, '%s')", i, secret))
			count(t, db, fmt.Sprintf("SELECT COUNT(*) FROM secrets WHERE v = '%s'", secret))
			mustExec(t, db, fmt.Sprintf("SET @x = '%s'", secret))
			// A statement the parser does not know goes to an unsharded
			// keyspace as written.
			db.Exec(fmt.Sprintf("SHOW PACKAGE STATUS LIKE '%s'", secret))
		}
		get := func(url string) (int, string) {
			resp, err := http.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(body)
		}
		for _, base := range []string{"http://" + c.Gate.HTTPAddr().String(), "http://" + primary.HTTPAddr} {
			for _, path := range []string{"/debug/status", "/metrics", "/healthz", "/debug/pprof/"} {
				code, body := get(base + path)
				if code != http.StatusOK {
					t.Errorf("%s%s: status %d", base, path, code)
				}
				if strings.Contains(body, secret) {
					t.Errorf("%s%s shows a statement's literal:\n%s", base, path, body)
				}
				if base == "http://"+c.Gate.HTTPAddr().String() && path == "/debug/status" && !strings.Contains(body, "INTO secrets VALUES (?, ?)") {
					t.Errorf("the gate's status page does not show the statements (normalized), so the check above proves nothing:\n%s", body)
				}
			}
			if code, _ := get(base + "/debug/pprof/cmdline"); code != http.StatusNotFound {
				t.Errorf("%s/debug/pprof/cmdline: status %d, want 404", base, code)
			}
		}
	})

	t.Run("TabletRefusesStrangers", func(t *testing.T) {
		noCert, err := mtls.Load(mtls.Files{CA: ca.Files(mtls.RoleGate).CA}, nil)
		if err != nil {
			t.Fatal(err)
		}
		// A client that trusts the cluster CA (so only the tablet can
		// refuse) but shows a certificate of another CA.
		foreignFiles := foreign.Files(mtls.RoleOperator)
		foreignFiles.CA = ca.Files(mtls.RoleOperator).CA
		foreignOp, err := mtls.Load(foreignFiles, nil)
		if err != nil {
			t.Fatal(err)
		}
		before := registryValue(t, reg, "mosaic_tablet_tls_handshake_failures_total", nil)
		for _, s := range []struct {
			name  string
			creds credentials.TransportCredentials
		}{
			{"plaintext", tmclient.Insecure()},
			{"no certificate", noCert.ClientCredentials(mtls.RoleTablet)},
			{"certificate of another CA", foreignOp.ClientCredentials(mtls.RoleTablet)},
		} {
			cl := dialAs(t, primary.GRPCAddr, s.creds)
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := cl.TM.ExecuteFetchAsDba(cctx, &tabletmanagerpb.ExecuteFetchAsDbaRequest{Sql: "SELECT 1"})
			cancel()
			if err == nil {
				t.Fatalf("%s: a stranger ran a statement as mysqld's root", s.name)
			}
			if err := selectOne(ctx, cl, primary); err == nil {
				t.Fatalf("%s: a stranger ran a query", s.name)
			}
		}
		// The two TLS strangers failed their handshakes at the tablet
		// (the plaintext client's bytes are no TLS handshake either).
		if after := registryValue(t, reg, "mosaic_tablet_tls_handshake_failures_total", nil); after < before+2 {
			t.Errorf("tls handshake failures went from %v to %v, want at least 2 more", before, after)
		}

		// The unix socket the gate uses on this host is held to the same.
		rec, err := c.TS.GetTablet(ctx, primary.Alias)
		if err != nil || rec.GetGrpcSocket() == "" {
			t.Fatalf("tablet record %v, %v: no socket", rec, err)
		}
		viaSocket := func(creds credentials.TransportCredentials) *tmclient.Client {
			// The TLS server name stays the tablet's host, as the gate's.
			return dialAs(t, primary.GRPCAddr, creds, grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", rec.GetGrpcSocket())
			}))
		}
		if err := selectOne(ctx, viaSocket(tmclient.Insecure()), primary); err == nil {
			t.Fatal("a plaintext client ran a query over the tablet's socket")
		}
		if err := selectOne(ctx, viaSocket(foreignOp.ClientCredentials(mtls.RoleTablet)), primary); err == nil {
			t.Fatal("a client of another CA ran a query over the tablet's socket")
		}
		if err := selectOne(ctx, viaSocket(c.TabletCreds(t, mtls.RoleGate)), primary); err != nil {
			t.Fatalf("the gate's certificate over the socket: %v", err)
		}
	})

	t.Run("GateMayQueryOnly", func(t *testing.T) {
		gate := dialAs(t, primary.GRPCAddr, c.TabletCreds(t, mtls.RoleGate))
		if err := selectOne(ctx, gate, primary); err != nil {
			t.Fatalf("a gate's query: %v", err)
		}
		st, err := gate.Query.StreamHealth(ctx, &querypb.StreamHealthRequest{})
		if err == nil {
			_, err = st.Recv()
		}
		if err != nil {
			t.Fatalf("a gate's health stream: %v", err)
		}
		_, err = gate.TM.ExecuteFetchAsDba(ctx, &tabletmanagerpb.ExecuteFetchAsDbaRequest{Sql: "SELECT user FROM mysql.user"})
		wantDenied(t, "gate ExecuteFetchAsDba", err)
		bst, err := gate.TM.Backup(ctx, &tabletmanagerpb.BackupRequest{})
		if err == nil {
			_, err = bst.Recv()
		}
		wantDenied(t, "gate Backup", err)
		_, err = gate.TM.SetReplicationSource(ctx, &tabletmanagerpb.SetReplicationSourceRequest{Host: "127.0.0.1", Port: 1})
		wantDenied(t, "gate SetReplicationSource", err)
		_, err = gate.TM.StopReplication(ctx, &tabletmanagerpb.StopReplicationRequest{})
		wantDenied(t, "gate StopReplication", err)

		// A planned reparent with the gate's certificate fails, and the
		// primary stays.
		_, err = reparent.Planned(ctx, c.TS, "commerce", "0", reparent.Options{Creds: c.TabletCreds(t, mtls.RoleGate)})
		wantDenied(t, "gate planned reparent", err)
		shard, _, err := c.TS.GetShard(ctx, "commerce", "0")
		if err != nil || shard.GetPrimaryAlias().GetUid() != primary.Alias.GetUid() {
			t.Fatalf("the shard's primary moved after a gate's reparent: %v, %v", shard.GetPrimaryAlias(), err)
		}
		for _, m := range []string{"TabletManager.ExecuteFetchAsDba", "TabletManager.Backup", "TabletManager.SetReplicationSource"} {
			if n := registryValue(t, reg, "mosaic_tablet_rpc_denied_total", map[string]string{"method": m, "role": "gate"}); n < 1 {
				t.Errorf("mosaic_tablet_rpc_denied_total{method=%q,role=gate} = %v", m, n)
			}
		}
	})

	t.Run("TabletMayCopyOnly", func(t *testing.T) {
		peer := dialAs(t, primary.GRPCAddr, c.TabletCreds(t, mtls.RoleTablet))
		if _, err := peer.TM.Status(ctx, &tabletmanagerpb.StatusRequest{}); err != nil {
			t.Fatalf("a tablet's Status: %v", err)
		}
		wantDenied(t, "tablet Execute", selectOne(ctx, peer, primary))
		_, err := peer.TM.ExecuteFetchAsDba(ctx, &tabletmanagerpb.ExecuteFetchAsDbaRequest{Sql: "SELECT 1"})
		wantDenied(t, "tablet ExecuteFetchAsDba", err)
		_, err = peer.TM.PromoteReplica(ctx, &tabletmanagerpb.PromoteReplicaRequest{})
		wantDenied(t, "tablet PromoteReplica", err)
	})

	t.Run("OperatorMayDoAll", func(t *testing.T) {
		op := dialAs(t, primary.GRPCAddr, c.TabletCreds(t, mtls.RoleOperator))
		resp, err := op.TM.ExecuteFetchAsDba(ctx, &tabletmanagerpb.ExecuteFetchAsDbaRequest{Sql: "SELECT COUNT(*) FROM sec"})
		if err != nil || len(resp.GetResult().GetRows()) != 1 {
			t.Fatalf("an operator's ExecuteFetchAsDba: %v, %v", resp, err)
		}
		bctx, cancel := context.WithCancel(ctx)
		bst, err := op.TM.Backup(bctx, &tabletmanagerpb.BackupRequest{})
		if err == nil {
			_, err = bst.Recv()
		}
		cancel()
		if err != nil {
			t.Fatalf("an operator's backup: %v", err)
		}
		res, err := reparent.Planned(ctx, c.TS, "commerce", "0", reparent.Options{Creds: c.TabletCreds(t, mtls.RoleOperator)})
		if err != nil {
			t.Fatalf("an operator's planned reparent: %v", err)
		}
		if res.NewPrimary.GetUid() == primary.Alias.GetUid() {
			t.Fatalf("the reparent kept %v", res.NewPrimary)
		}
		// The gate follows the new primary, over TLS.
		eventually(t, 30*time.Second, "insert through the gate after the reparent", func() error {
			_, err := db.Exec("INSERT INTO sec VALUES (2)")
			return err
		})
	})

	t.Run("EtcdRefusesStrangersAndGateWrites", func(t *testing.T) {
		noCert, err := mtls.Load(mtls.Files{CA: ca.Files(mtls.RoleOperator).CA}, nil)
		if err != nil {
			t.Fatal(err)
		}
		foreignFiles := foreign.Files(mtls.RoleOperator)
		foreignFiles.CA = ca.Files(mtls.RoleOperator).CA
		foreignOp, err := mtls.Load(foreignFiles, nil)
		if err != nil {
			t.Fatal(err)
		}
		const key = "keyspaces/commerce"
		before, _, err := c.TS.Store().Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []struct {
			name string
			tls  *mtls.Source
		}{{"anonymous", nil}, {"no certificate", noCert}, {"certificate of another CA", foreignOp}} {
			cfg := etcdstore.DefaultConfig()
			cfg.Endpoints = []string{c.TopoAddr}
			cfg.DialTimeout = 2 * time.Second
			cfg.TLS = s.tls
			store, err := etcdstore.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			_, _, gerr := store.Get(cctx, key)
			_, werr := store.Update(cctx, key, []byte(`{"sharded":true}`), 0)
			cancel()
			store.Close()
			if gerr == nil || werr == nil {
				t.Fatalf("%s: etcd answered a stranger (read %v, write %v)", s.name, gerr, werr)
			}
		}
		// A gate's certificate reads the topology but may not write it.
		cfg := etcdstore.DefaultConfig()
		cfg.Endpoints = []string{c.TopoAddr}
		cfg.TLS = ca.Source(t, mtls.RoleGate)
		gateStore, err := etcdstore.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer gateStore.Close()
		if v, _, err := gateStore.Get(ctx, key); err != nil || string(v) != string(before) {
			t.Fatalf("a gate's read of the topology: %q, %v", v, err)
		}
		if _, err := gateStore.Update(ctx, key, []byte(`{"sharded":true}`), 0); err == nil {
			t.Fatal("a gate's certificate wrote the topology")
		}
		after, _, err := c.TS.Store().Get(ctx, key)
		if err != nil || string(after) != string(before) {
			t.Fatalf("the keyspace record changed: %q -> %q (%v)", before, after, err)
		}
	})
}

// TestInsecureCluster: a cluster run explicitly insecure still serves,
// and its tablets take plaintext calls from anyone (what --insecure
// means).
func TestInsecureCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	c := cluster.Start(t, cluster.Options{Keyspaces: []cluster.Keyspace{{Name: "commerce"}}, Insecure: true})
	db := c.DB(t, "commerce")
	mustExec(t, db, "CREATE TABLE plain (id INT PRIMARY KEY)")
	mustExec(t, db, "INSERT INTO plain VALUES (1)")
	if n := count(t, db, "SELECT COUNT(*) FROM plain"); n != 1 {
		t.Fatalf("%d rows", n)
	}
	primary := c.Shards["commerce"]["0"].Primary()
	cl := dialAs(t, primary.GRPCAddr, tmclient.Insecure())
	if _, err := cl.TM.ExecuteFetchAsDba(t.Context(), &tabletmanagerpb.ExecuteFetchAsDbaRequest{Sql: "SELECT 1"}); err != nil {
		t.Fatalf("plaintext call to an insecure tablet: %v", err)
	}
	if c.Security.Certs != nil {
		t.Fatal("an insecure cluster has certificates")
	}
}

// copyCertDir copies the certificate directory of ca into a new
// temporary directory and returns it.
func copyCertDir(t *testing.T, ca *mtlstest.CA) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir(ca.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(ca.Dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := mtls.WriteFileAtomic(filepath.Join(dir, e.Name()), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// concat returns the contents of files, one after the other.
func concat(t *testing.T, files ...string) []byte {
	t.Helper()
	var out []byte
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, data...)
	}
	return out
}

// TestCertRotation rotates the cluster CA under a running tablet process
// without restarting it, as docs/security.md says: the new CA joins the
// tablet's bundle, the tablet's certificate is replaced by one of the new
// CA, the old CA leaves the bundle; each step takes effect on SIGHUP.
func TestCertRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a tablet process")
	}
	oldCA, newCA := mtlstest.New(t), mtlstest.New(t)
	oldBundle, newBundle := oldCA.Files(mtls.RoleTablet).CA, newCA.Files(mtls.RoleTablet).CA
	both := filepath.Join(t.TempDir(), "both.pem")
	if err := mtls.WriteFileAtomic(both, concat(t, oldBundle, newBundle), 0o644); err != nil {
		t.Fatal(err)
	}
	// etcd reads its bundle only at start: it trusts both CAs from the
	// beginning (an etcd member is restarted to change it).
	etcdDir := copyCertDir(t, oldCA)
	if err := mtls.WriteFileAtomic(filepath.Join(etcdDir, mtls.CAFile), concat(t, both), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := etcdtest.StartSecure(t, &mtlstest.CA{Dir: etcdDir})

	// The tablet's certificate directory, which the rotation rewrites.
	dir := copyCertDir(t, oldCA)
	bin := cluster.BuildMosaic(t)
	p := cluster.StartProcTablet(t, bin, addr, cluster.Security{Certs: &mtlstest.CA{Dir: dir}}, "commerce", "0", "--cert-reload-interval", "1h")
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	if err := p.WaitHealth(ctx, func(h *querypb.StreamHealthResponse) bool { return h.Serving }); err != nil {
		t.Fatal(err)
	}

	// statusAs calls the tablet's Status on a new connection (a reload
	// changes new handshakes; connections already made live on) with the
	// operator certificate of files.
	statusAs := func(files mtls.Files) error {
		c, err := tmclient.Dial(fmt.Sprintf("127.0.0.1:%d", p.GRPCPort), mustSource(t, files).ClientCredentials(mtls.RoleTablet))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
		defer scancel()
		_, err = c.TM.Status(sctx, &tabletmanagerpb.StatusRequest{})
		return err
	}
	// Operators of each CA trusting only their own, and one of the new CA
	// trusting both.
	oldOp, newOp := oldCA.Files(mtls.RoleOperator), newCA.Files(mtls.RoleOperator)
	newOpBoth := newOp
	newOpBoth.CA = both
	reloadUntil := func(what string, ok func() bool) {
		t.Helper()
		if err := p.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not after SIGHUP", what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if err := statusAs(oldOp); err != nil {
		t.Fatalf("the old CA's operator is refused before the rotation: %v", err)
	}
	if statusAs(newOpBoth) == nil {
		t.Fatal("the new CA's operator is taken before the tablet trusts the new CA")
	}

	// 1. The bundle holds both CAs.
	if err := mtls.WriteFileAtomic(filepath.Join(dir, mtls.CAFile), concat(t, both), 0o644); err != nil {
		t.Fatal(err)
	}
	reloadUntil("the new CA's operator taken", func() bool { return statusAs(newOpBoth) == nil })
	if err := statusAs(oldOp); err != nil {
		t.Fatalf("the old CA's operator is refused while the bundle holds both: %v", err)
	}
	if statusAs(newOp) == nil {
		t.Fatal("a client trusting only the new CA took the tablet's old certificate")
	}

	// 2. The tablet's certificate comes from the new CA (key first).
	for _, f := range []struct{ src, dst string }{
		{newCA.Files(mtls.RoleTablet).Key, filepath.Join(dir, "tablet-key.pem")},
		{newCA.Files(mtls.RoleTablet).Cert, filepath.Join(dir, "tablet.pem")},
	} {
		if err := mtls.WriteFileAtomic(f.dst, concat(t, f.src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	reloadUntil("the new certificate served", func() bool { return statusAs(newOp) == nil })

	// 3. The old CA leaves the bundle.
	if err := mtls.WriteFileAtomic(filepath.Join(dir, mtls.CAFile), concat(t, newBundle), 0o644); err != nil {
		t.Fatal(err)
	}
	reloadUntil("the old CA's operator refused", func() bool { return statusAs(oldOp) != nil })
	if err := statusAs(newOp); err != nil {
		t.Fatalf("after the rotation: %v", err)
	}
	// The same process served throughout and still serves.
	p.Creds = mustSource(t, newOp).ClientCredentials(mtls.RoleTablet)
	if err := p.WaitHealth(ctx, func(h *querypb.StreamHealthResponse) bool { return h.Serving }); err != nil {
		t.Fatal(err)
	}
}

func mustSource(t *testing.T, f mtls.Files) *mtls.Source {
	t.Helper()
	s, err := mtls.Load(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
