package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/mosaicdb/mosaic/mtls"
	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/tablet/tmclient"
	"github.com/mosaicdb/mosaic/testports"
	"github.com/mosaicdb/mosaic/topo/etcdstore"
	"github.com/mosaicdb/mosaic/topo/etcdstore/etcdtest"
)

// TestMosaicUp runs the real `mosaic up` binary as a user would with
// `make run`: the cluster comes up, takes writes on commerce and customer,
// stops on SIGINT with every child gone, and comes back on the same data.
func TestMosaicUp(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a whole local cluster")
	}
	bin := filepath.Join(t.TempDir(), "mosaic")
	build := exec.Command("go", "build", "-o", bin, "github.com/mosaicdb/mosaic/cmd/mosaic")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build mosaic: %v\n%s", err, out)
	}
	dataDir := traversableTempDir(t)
	etcdPort := freePortPair(t) // etcd's peer port is the next one
	gatePort := etcdtest.FreePort(t)
	httpPort := etcdtest.FreePort(t)
	offset := freeTabletPortOffset(t)
	args := []string{"up", "--log-format", "json", "--data-dir", dataDir, "--replicas", "0",
		"--etcd-port", fmt.Sprint(etcdPort), "--gate-port", fmt.Sprint(gatePort),
		"--gate-http-port", fmt.Sprint(httpPort), "--tablet-port-offset", fmt.Sprint(offset)}
	dsn := func(ks string) string {
		return fmt.Sprintf("root@tcp(127.0.0.1:%d)/%s?interpolateParams=true", gatePort, ks)
	}

	var upLog lockedBuffer // the log of the running `mosaic up`
	run := func() (*exec.Cmd, <-chan error) {
		cmd := exec.Command(bin, args...)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		upLog.Reset()
		cmd.Stderr = io.MultiWriter(os.Stderr, &upLog)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		up := make(chan error, 1)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if strings.Contains(sc.Text(), "Mosaic is up.") {
					up <- nil
				}
			}
			up <- fmt.Errorf("mosaic up exited before it was up")
			io.Copy(io.Discard, out)
		}()
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd, up
	}
	waitUp := func(up <-chan error) {
		select {
		case err := <-up:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(3 * time.Minute):
			t.Fatal("mosaic up did not come up in 3 minutes")
		}
	}
	stop := func(cmd *exec.Cmd) {
		cmd.Process.Signal(syscall.SIGINT)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(2 * time.Minute):
			t.Fatal("mosaic up did not stop in 2 minutes after SIGINT")
		}
		// No mariadbd of this cluster may survive it.
		out, _ := exec.Command("pgrep", "-f", dataDir).Output()
		if len(strings.TrimSpace(string(out))) > 0 {
			t.Fatalf("processes of the cluster still run after stop: %s", out)
		}
		checkStopOrder(t, upLog.String(), filepath.Join(dataDir, "logs"))
	}

	cmd, up := run()
	waitUp(up)
	// Secure by default: the cluster's own CA and certificates, mutual
	// TLS on the tablets' gRPC and on etcd.
	certDir := filepath.Join(dataDir, "certs")
	caPEM := checkUpSecurity(t, certDir, fmt.Sprintf("127.0.0.1:%d", etcdPort), fmt.Sprintf("127.0.0.1:%d", offset+18100))
	checkUpClientTLS(t, caPEM, gatePort)
	// The quick start of the README, as written there (on this test's
	// gate port): applications connect as before.
	runReadmeQuickStart(t, gatePort)
	// A SIGHUP reaches every child, which reloads its certificates, and
	// the cluster goes on.
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"gate", "zone1-100", "failover"} {
		waitLogged(t, filepath.Join(dataDir, "logs", name+".log"), `"msg":"certificates reloaded"`, time.Minute)
	}
	commerce := openDirect(t, dsn("commerce"))
	mustExec(t, commerce, "create table t_up (id int primary key, v varchar(10))")
	mustExec(t, commerce, "insert into t_up values (1, 'one'), (2, 'two')")
	customer := openDirect(t, dsn("customer"))
	mustExec(t, customer, "create table customer (customer_id bigint primary key, name varchar(20))")
	mustExec(t, customer, "insert into customer (customer_id, name) values (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd')")
	commerce.Close()
	customer.Close()
	stop(cmd)

	cmd, up = run()
	waitUp(up)
	// The certificates are reused, not made anew.
	if again, err := os.ReadFile(filepath.Join(certDir, mtls.CAFile)); err != nil || string(again) != string(caPEM) {
		t.Fatalf("the CA changed across a restart (%v)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, c := range []struct{ ks, q string }{{"commerce", "select count(*) from t_up"}, {"customer", "select count(*) from customer"}} {
		db := openDirect(t, dsn(c.ks))
		var n int
		if err := retryQueryRow(ctx, db, c.q, &n); err != nil {
			t.Fatalf("%s after restart: %v", c.q, err)
		}
		if want := map[string]int{"commerce": 2, "customer": 4}[c.ks]; n != want {
			t.Fatalf("%s after restart = %d, want %d", c.q, n, want)
		}
		db.Close()
	}
	stop(cmd)
}

// checkUpClientTLS checks that the gate of a running `mosaic up` offers
// MySQL clients TLS with a certificate the cluster CA signed, as MariaDB
// 11.4 offers a certificate of its own from its first start: go-sql-driver
// verifying it against ca.pem, go-sql-driver's skip-verify, and the
// mariadb client with --ssl-verify-server-cert.
func checkUpClientTLS(t *testing.T, caPEM []byte, gatePort int) {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.pem holds no certificate")
	}
	if err := mysql.RegisterTLSConfig("mosaicup", &tls.Config{RootCAs: pool}); err != nil {
		t.Fatal(err)
	}
	defer mysql.DeregisterTLSConfig("mosaicup")
	for _, mode := range []string{"mosaicup", "skip-verify"} {
		db := openDirect(t, fmt.Sprintf("root@tcp(127.0.0.1:%d)/commerce?tls=%s", gatePort, mode))
		var one int
		if err := db.QueryRow("select 1").Scan(&one); err != nil || one != 1 {
			t.Fatalf("tls=%s: %d %v", mode, one, err)
		}
		db.Close()
	}
	if _, err := lookPath("mariadb"); err != nil {
		return
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runMariadb(t, "", "-h127.0.0.1", "-P", fmt.Sprint(gatePort), "-uroot", "--ssl", "--ssl-ca", ca,
		"--ssl-verify-server-cert", "commerce", "-e", "status")
	if err != nil || !strings.Contains(out, "Cipher in use") {
		t.Fatalf("mariadb --ssl-verify-server-cert through the gate of mosaic up: %v\n%s", err, out)
	}
}

// checkUpSecurity checks the security of a running `mosaic up`: its
// certificates in certDir (keys 0600), a tablet gRPC port (tabletAddr,
// zone1-100) that refuses a plaintext client and answers the operator's
// certificate, and an etcd that refuses a client without a certificate.
// It returns the CA certificate.
func checkUpSecurity(t *testing.T, certDir, etcdAddr, tabletAddr string) []byte {
	t.Helper()
	caPEM, err := os.ReadFile(filepath.Join(certDir, mtls.CAFile))
	if err != nil {
		t.Fatalf("mosaic up made no CA: %v", err)
	}
	for _, r := range mtls.Roles() {
		f := mtls.DirFiles(certDir, r)
		src, err := mtls.Load(f, nil)
		if err != nil || src.Role() != r {
			t.Fatalf("%s certificate: %v (role %v)", r, err, src.Role())
		}
		if fi, err := os.Stat(f.Key); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, mode %v, want 0600", f.Key, err, fi.Mode().Perm())
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	plain, err := tmclient.Dial(tabletAddr, tmclient.Insecure())
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
	defer pcancel()
	if _, err := plain.TM.Status(pctx, &tabletmanagerpb.StatusRequest{}); err == nil {
		t.Fatal("a tablet of mosaic up answered a plaintext client")
	}
	op, err := mtls.Load(mtls.DirFiles(certDir, mtls.RoleOperator), nil)
	if err != nil {
		t.Fatal(err)
	}
	oc, err := tmclient.Dial(tabletAddr, op.ClientCredentials(mtls.RoleTablet))
	if err != nil {
		t.Fatal(err)
	}
	defer oc.Close()
	if _, err := oc.TM.Status(ctx, &tabletmanagerpb.StatusRequest{}); err != nil {
		t.Fatalf("the operator certificate of mosaic up: %v", err)
	}
	anon, err := mtls.Load(mtls.Files{CA: filepath.Join(certDir, mtls.CAFile)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []*mtls.Source{anon, nil} {
		cfg := etcdstore.DefaultConfig()
		cfg.Endpoints, cfg.TLS, cfg.DialTimeout = []string{etcdAddr}, src, 2*time.Second
		store, err := etcdstore.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ectx, ecancel := context.WithTimeout(ctx, 3*time.Second)
		_, lerr := store.List(ectx, "keyspaces/")
		ecancel()
		store.Close()
		if lerr == nil {
			t.Fatalf("the etcd of mosaic up answered a client without a certificate (tls %v)", src != nil)
		}
	}
	// etcd's users: a gate's certificate reads the topology, never writes it.
	cfg := etcdstore.DefaultConfig()
	cfg.Endpoints = []string{etcdAddr}
	cfg.TLS, err = mtls.Load(mtls.DirFiles(certDir, mtls.RoleGate), nil)
	if err != nil {
		t.Fatal(err)
	}
	gate, err := etcdstore.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer gate.Close()
	kvs, err := gate.List(ctx, "keyspaces/")
	if err != nil || len(kvs) == 0 {
		t.Fatalf("a gate's list of the keyspaces: %v, %v", kvs, err)
	}
	if _, err := gate.Update(ctx, kvs[0].Key, kvs[0].Value, 0); err == nil {
		t.Fatalf("a gate's certificate wrote %s", kvs[0].Key)
	}
	return caPEM
}

// waitLogged waits until the file at path holds text.
func waitLogged(t *testing.T, path, text string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		data, _ := os.ReadFile(path)
		if strings.Contains(string(data), text) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has no %s after %v:\n%s", path, text, within, data)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// runReadmeQuickStart runs the mysql command of the README's quick start
// against the gate on port, and checks it printed the row it inserted.
func runReadmeQuickStart(t *testing.T, port int) {
	t.Helper()
	if _, err := exec.LookPath("mysql"); err != nil {
		t.Skip("no mysql client")
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var line string
	for _, l := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(l, "mysql -h127.0.0.1 -P15306 ") {
			line = l
		}
	}
	if line == "" {
		t.Fatal("the README has no quick start mysql command")
	}
	line = strings.Replace(line, "-P15306", fmt.Sprintf("-P%d", port), 1)
	out, err := exec.Command("sh", "-c", line).CombinedOutput()
	if err != nil || strings.Join(strings.Fields(string(out)), " ") != "id 1" {
		t.Fatalf("%s: %v\n%s", line, err, out)
	}
}

// retryQueryRow retries a single-value query until it succeeds or ctx ends.
func retryQueryRow(ctx context.Context, db *sql.DB, q string, dst any) error {
	for {
		err := db.QueryRowContext(ctx, q).Scan(dst)
		if err == nil || ctx.Err() != nil {
			return err
		}
		select {
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
			return err
		}
	}
}

// freeTabletPortOffset finds a --tablet-port-offset whose tablet ports
// (mysqld 17000+uid, gRPC 18000+uid, HTTP 19000+uid for uids 100 to 500)
// are all free and claims them. The ports stay below the kernel's
// ephemeral range so that the free ports other tests pick cannot land on
// them.
func freeTabletPortOffset(t *testing.T) int {
	t.Helper()
	start := int(time.Now().UnixNano() % 4)
	for i := 0; i < 4; i++ {
		offset := 3000 * (1 + (start+i)%4)
		free := true
		for _, base := range []int{17000, 18000, 19000} {
			for _, uid := range []int{100, 200, 300, 400, 500} {
				if !testports.Claim(offset + base + uid) {
					free = false
					break
				}
			}
		}
		if free {
			return offset
		}
	}
	t.Fatal("no free tablet port offset")
	return 0
}

// freePortPair returns a port p such that p and p+1 were both free a
// moment ago.
func freePortPair(t *testing.T) int {
	t.Helper()
	for i := 0; i < 50; i++ {
		p := etcdtest.FreePort(t)
		if testports.Claim(p + 1) {
			return p
		}
	}
	t.Fatal("no two free ports in a row")
	return 0
}

// checkStopOrder checks from the logs that `mosaic up` stopped the gate
// and the failure detector before it told any tablet to stop: no tablet
// began shutting down before "stopping the tablets".
func checkStopOrder(t *testing.T, upLog, logDir string) {
	t.Helper()
	type entry struct {
		Time time.Time `json:"time"`
		Msg  string    `json:"msg"`
	}
	find := func(text, msg string) (time.Time, bool) {
		var last time.Time
		found := false
		for _, line := range strings.Split(text, "\n") {
			var e entry
			if json.Unmarshal([]byte(line), &e) == nil && e.Msg == msg {
				last, found = e.Time, true
			}
		}
		return last, found
	}
	tabletsStop, ok := find(upLog, "stopping the tablets")
	if !ok {
		t.Fatalf("mosaic up never logged that it stops the tablets:\n%s", upLog)
	}
	logs, _ := filepath.Glob(filepath.Join(logDir, "zone1-*.log"))
	if len(logs) == 0 {
		t.Fatal("no tablet logs")
	}
	for _, l := range logs {
		data, err := os.ReadFile(l)
		if err != nil {
			t.Fatal(err)
		}
		down, ok := find(string(data), "tablet shutting down")
		if !ok {
			t.Fatalf("%s: the tablet never logged its shutdown", l)
		}
		if down.Before(tabletsStop) {
			t.Errorf("%s began shutting down at %v, before mosaic up stopped the gate (%v)", filepath.Base(l), down, tabletsStop)
		}
	}
}

// lockedBuffer is a bytes.Buffer safe for one writer and one reader.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *lockedBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}
