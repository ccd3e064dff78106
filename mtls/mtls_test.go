package mtls_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/credentials"

	"github.com/mosaicdb/mosaic/mtls"
	"github.com/mosaicdb/mosaic/mtls/mtlstest"
)

func parseCert(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatal("no PEM block")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestIssue(t *testing.T) {
	ca, err := mtls.NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	for _, r := range mtls.Roles() {
		certPEM, keyPEM, err := ca.Issue(mtls.Request{Role: r, Hosts: []string{"db1.example", "10.0.0.7"}, Validity: 24 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		c := parseCert(t, certPEM)
		pub, ok := c.PublicKey.(*ecdsa.PublicKey)
		if !ok || pub.Curve != elliptic.P256() {
			t.Errorf("%s: key is %T, want ECDSA P-256", r, c.PublicKey)
		}
		if got, err := mtls.RoleOf(c); err != nil || got != r {
			t.Errorf("RoleOf(%s cert) = %v, %v", r, got, err)
		}
		if c.Subject.CommonName != "mosaic-"+string(r) {
			t.Errorf("%s: common name %q", r, c.Subject.CommonName)
		}
		for _, h := range []string{"db1.example", "10.0.0.7", "localhost", "127.0.0.1", "::1"} {
			if err := c.VerifyHostname(h); err != nil {
				t.Errorf("%s: %v", r, err)
			}
		}
		if c.VerifyHostname("db2.example") == nil {
			t.Errorf("%s: valid for a host it was not issued for", r)
		}
		// The CA validity caps the certificate's.
		if c.NotAfter.After(ca.Cert.NotAfter) {
			t.Errorf("%s: valid until %v, after its CA (%v)", r, c.NotAfter, ca.Cert.NotAfter)
		}
		wantServer := r == mtls.RoleTablet || r == mtls.RoleEtcd
		if _, err := c.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); (err == nil) != wantServer {
			t.Errorf("%s: verified as a server: %v, want %v", r, err == nil, wantServer)
		}
		if _, err := c.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("%s: not valid as a client: %v", r, err)
		}
		if !strings.Contains(string(keyPEM), "PRIVATE KEY") {
			t.Errorf("%s: key PEM %q", r, keyPEM[:20])
		}
	}
	if _, _, err := ca.Issue(mtls.Request{Role: "admin", Validity: time.Hour}); err == nil {
		t.Error("issued a certificate of an unknown role")
	}
}

func TestRoleOf(t *testing.T) {
	ca, err := mtls.NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, _, err := ca.Issue(mtls.Request{Role: mtls.RoleGate, Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	gate := parseCert(t, certPEM)
	other, _ := url.Parse("spiffe://example.org/gate")
	cases := []struct {
		name string
		uris []*url.URL
		want mtls.Role
		err  bool
	}{
		{"one role", []*url.URL{mtls.RoleURI(mtls.RoleOperator)}, mtls.RoleOperator, false},
		{"other URIs are ignored", []*url.URL{other, mtls.RoleURI(mtls.RoleTablet)}, mtls.RoleTablet, false},
		{"none", nil, mtls.RoleNone, true},
		{"only another URI", []*url.URL{other}, mtls.RoleNone, true},
		{"two roles", []*url.URL{mtls.RoleURI(mtls.RoleGate), mtls.RoleURI(mtls.RoleOperator)}, mtls.RoleNone, true},
		{"the same role twice", []*url.URL{mtls.RoleURI(mtls.RoleGate), mtls.RoleURI(mtls.RoleGate)}, mtls.RoleNone, true},
		{"unknown role", []*url.URL{mtls.RoleURI("root")}, mtls.RoleNone, true},
	}
	for _, c := range cases {
		cert := *gate
		cert.URIs = c.uris
		got, err := mtls.RoleOf(&cert)
		if got != c.want || (err != nil) != c.err {
			t.Errorf("%s: RoleOf = %v, %v; want %v, error %v", c.name, got, err, c.want, c.err)
		}
	}
	if _, err := mtls.RoleOf(nil); !errors.Is(err, mtls.ErrNoRole) {
		t.Errorf("RoleOf(nil) error %v", err)
	}
}

func TestInitDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	o := mtls.DefaultDirOptions()
	written, err := mtls.InitDir(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(written) != 2+2*len(mtls.Roles()) {
		t.Fatalf("wrote %v", written)
	}
	for _, f := range written {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		want := os.FileMode(0o644)
		if strings.HasSuffix(f, "-key.pem") {
			want = 0o600
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", f, fi.Mode().Perm(), want)
		}
	}
	for _, r := range mtls.Roles() {
		s, err := mtls.Load(mtls.DirFiles(dir, r), nil)
		if err != nil {
			t.Fatal(err)
		}
		if s.Role() != r {
			t.Errorf("%s files hold a %v certificate", r, s.Role())
		}
	}

	// Again: everything is kept.
	if written, err := mtls.InitDir(dir, o); err != nil || len(written) != 0 {
		t.Fatalf("second InitDir wrote %v, %v", written, err)
	}
	// A new host: every certificate is issued again, the CA stays.
	o.Hosts = []string{"db9.example"}
	written, err = mtls.InitDir(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(written) != 2*len(mtls.Roles()) || slices.Contains(written, filepath.Join(dir, mtls.CAFile)) {
		t.Fatalf("InitDir with a new host wrote %v", written)
	}
	// Certificates near their end are renewed.
	o.RenewBefore = 2 * o.Validity
	if written, err = mtls.InitDir(dir, o); err != nil || len(written) != 2*len(mtls.Roles()) {
		t.Fatalf("InitDir with certificates to renew wrote %v, %v", written, err)
	}
	// A CA certificate without its key cannot issue.
	if err := os.Remove(filepath.Join(dir, mtls.CAKeyFile)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(mtls.DirFiles(dir, mtls.RoleGate).Cert); err != nil {
		t.Fatal(err)
	}
	if _, err := mtls.InitDir(dir, o); err == nil {
		t.Fatal("InitDir issued a certificate without the CA key")
	}
}

// pair returns two connected stream sockets (a socketpair: no port).
func pair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) net.Conn {
		f := os.NewFile(uintptr(fd), "socketpair")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	return conn(fds[0]), conn(fds[1])
}

// handshake runs a client and a server handshake against each other and
// returns the server's AuthInfo and both errors.
func handshake(t *testing.T, server, client credentials.TransportCredentials, authority string) (mtls.AuthInfo, error, error) {
	t.Helper()
	sc, cc := pair(t)
	type result struct {
		ai  credentials.AuthInfo
		err error
	}
	done := make(chan result, 1)
	go func() {
		conn, ai, err := server.ServerHandshake(sc)
		if err == nil {
			// Read so that the client's side finishes (TLS 1.3 tickets).
			go func() { buf := make([]byte, 1); conn.Read(buf) }()
		}
		done <- result{ai, err}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, _, cerr := client.ClientHandshake(ctx, authority, cc)
	if cerr != nil {
		cc.Close()
	} else {
		conn.Close()
	}
	r := <-done
	ai, _ := r.ai.(mtls.AuthInfo)
	return ai, r.err, cerr
}

func TestHandshake(t *testing.T) {
	ca, foreign := mtlstest.New(t), mtlstest.New(t)
	tablet := ca.Source(t, mtls.RoleTablet)
	var failures []error
	server := tablet.ServerCredentials(func(_ net.Addr, err error) { failures = append(failures, err) })

	t.Run("gate to tablet", func(t *testing.T) {
		ai, serr, cerr := handshake(t, server, ca.TabletCreds(t, mtls.RoleGate), "127.0.0.1:16101")
		if serr != nil || cerr != nil {
			t.Fatalf("server %v, client %v", serr, cerr)
		}
		if ai.Role != mtls.RoleGate || ai.Name != "mosaic-gate" {
			t.Fatalf("server saw %v %q", ai.Role, ai.Name)
		}
	})
	t.Run("operator by host name", func(t *testing.T) {
		ai, serr, cerr := handshake(t, server, ca.TabletCreds(t, mtls.RoleOperator), "localhost:16101")
		if serr != nil || cerr != nil || ai.Role != mtls.RoleOperator {
			t.Fatalf("server %v, client %v, role %v", serr, cerr, ai.Role)
		}
	})
	t.Run("client without a certificate", func(t *testing.T) {
		noCert, err := mtls.Load(mtls.Files{CA: ca.Files(mtls.RoleGate).CA}, nil)
		if err != nil {
			t.Fatal(err)
		}
		n := len(failures)
		_, serr, _ := handshake(t, server, noCert.ClientCredentials(mtls.RoleTablet), "127.0.0.1:1")
		if serr == nil || len(failures) != n+1 {
			t.Fatalf("server took a client without a certificate (err %v, failures %d)", serr, len(failures)-n)
		}
	})
	t.Run("client of another CA", func(t *testing.T) {
		_, serr, cerr := handshake(t, server, foreign.TabletCreds(t, mtls.RoleGate), "127.0.0.1:1")
		if serr == nil || cerr == nil {
			t.Fatalf("server %v, client %v: want both refused", serr, cerr)
		}
	})
	t.Run("server of another CA", func(t *testing.T) {
		_, _, cerr := handshake(t, foreign.Source(t, mtls.RoleTablet).ServerCredentials(nil), ca.TabletCreds(t, mtls.RoleGate), "127.0.0.1:1")
		if cerr == nil || !strings.Contains(cerr.Error(), "unknown authority") {
			t.Fatalf("client took a server of another CA: %v", cerr)
		}
	})
	t.Run("server with the wrong role", func(t *testing.T) {
		etcd := ca.Source(t, mtls.RoleEtcd).ServerCredentials(nil)
		_, _, cerr := handshake(t, etcd, ca.TabletCreds(t, mtls.RoleGate), "127.0.0.1:1")
		if cerr == nil || !strings.Contains(cerr.Error(), "role etcd, want tablet") {
			t.Fatalf("gate took an etcd certificate as a tablet: %v", cerr)
		}
		// The topo credentials ask no role.
		if _, serr, cerr := handshake(t, etcd, ca.Source(t, mtls.RoleGate).TopoClientCredentials(), "127.0.0.1:1"); serr != nil || cerr != nil {
			t.Fatalf("topo client: server %v, client %v", serr, cerr)
		}
	})
	t.Run("wrong host", func(t *testing.T) {
		_, _, cerr := handshake(t, server, ca.TabletCreds(t, mtls.RoleGate), "db7.example:16101")
		if cerr == nil || !strings.Contains(cerr.Error(), "db7.example") {
			t.Fatalf("client took a certificate not issued for the host: %v", cerr)
		}
	})
}

// copyFiles copies role r's files of ca into dir and returns them there.
func copyFiles(t *testing.T, ca *mtlstest.CA, r mtls.Role, dir string) mtls.Files {
	t.Helper()
	src := ca.Files(r)
	dst := mtls.Files{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "cert.pem"), Key: filepath.Join(dir, "key.pem")}
	for _, p := range [][2]string{{src.CA, dst.CA}, {src.Cert, dst.Cert}, {src.Key, dst.Key}} {
		data, err := os.ReadFile(p[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := mtls.WriteFileAtomic(p[1], data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func TestReload(t *testing.T) {
	oldCA, newCA := mtlstest.New(t), mtlstest.New(t)
	dir := t.TempDir()
	files := copyFiles(t, oldCA, mtls.RoleTablet, dir)
	src, err := mtls.Load(files, nil)
	if err != nil {
		t.Fatal(err)
	}
	server := src.ServerCredentials(nil)
	// Clients: one of the old CA trusting it alone, one with a certificate
	// of the new CA trusting both (as every component does during a CA
	// rotation).
	oldPEM, _ := os.ReadFile(oldCA.Files(mtls.RoleTablet).CA)
	newPEM, _ := os.ReadFile(newCA.Files(mtls.RoleTablet).CA)
	bundle := filepath.Join(t.TempDir(), "bundle.pem")
	if err := mtls.WriteFileAtomic(bundle, append(oldPEM, newPEM...), 0o644); err != nil {
		t.Fatal(err)
	}
	gateOld := oldCA.TabletCreds(t, mtls.RoleGate)
	gateNewFiles := newCA.Files(mtls.RoleGate)
	gateNewFiles.CA = bundle
	gateNewSrc, err := mtls.Load(gateNewFiles, nil)
	if err != nil {
		t.Fatal(err)
	}
	gateNew := gateNewSrc.ClientCredentials(mtls.RoleTablet)
	if _, serr, cerr := handshake(t, server, gateOld, "127.0.0.1:1"); serr != nil || cerr != nil {
		t.Fatalf("before rotation: %v, %v", serr, cerr)
	}
	if _, serr, _ := handshake(t, server, gateNew, "127.0.0.1:1"); serr == nil {
		t.Fatal("a client of the new CA was taken before the bundle has it")
	}
	oldSerial := src.Leaf().SerialNumber

	// Step one of a CA rotation: the bundle holds both CAs.
	if err := mtls.WriteFileAtomic(files.CA, append(oldPEM, newPEM...), 0o644); err != nil {
		t.Fatal(err)
	}
	// Watch notices the change by itself.
	ctx, cancel := context.WithCancel(t.Context())
	watched := make(chan struct{})
	go func() { defer close(watched); src.Watch(ctx, 10*time.Millisecond) }()
	defer func() { cancel(); <-watched }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, serr, cerr := handshake(t, server, gateNew, "127.0.0.1:1")
		if serr == nil && cerr != nil {
			t.Fatalf("server took the new CA's client, client refused: %v", cerr)
		}
		if serr == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new CA is not trusted 10 s after the bundle changed: %v", serr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, serr, _ := handshake(t, server, gateOld, "127.0.0.1:1"); serr != nil {
		t.Fatalf("the old CA's client is refused while the bundle holds both: %v", serr)
	}

	// A certificate and key that do not match are refused; the old pair stays.
	newCert, _ := os.ReadFile(newCA.Files(mtls.RoleTablet).Cert)
	if err := mtls.WriteFileAtomic(files.Cert, newCert, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := src.Reload(); err == nil {
		t.Fatal("Reload took a certificate that does not match its key")
	}
	if src.Leaf().SerialNumber.Cmp(oldSerial) != 0 {
		t.Fatal("a failed reload replaced the certificate")
	}
	// With its key, the new certificate is served.
	newKey, _ := os.ReadFile(newCA.Files(mtls.RoleTablet).Key)
	if err := mtls.WriteFileAtomic(files.Key, newKey, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := src.Reload(); err != nil {
		t.Fatal(err)
	}
	if src.Leaf().SerialNumber.Cmp(oldSerial) == 0 {
		t.Fatal("Reload kept the old certificate")
	}
	// A client that trusts only the old CA no longer takes the server.
	if _, _, cerr := handshake(t, server, gateOld, "127.0.0.1:1"); cerr == nil {
		t.Fatal("a client trusting only the old CA took the new certificate")
	}
	if _, serr, cerr := handshake(t, server, gateNew, "127.0.0.1:1"); serr != nil || cerr != nil {
		t.Fatalf("after rotation: %v, %v", serr, cerr)
	}
}
