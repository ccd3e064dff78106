package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/mtls"
)

// TestClientCertReload: the gate's client TLS certificate is read again
// when its files change, and a pair that does not load leaves the loaded
// one in use.
func TestClientCertReload(t *testing.T) {
	ca, err := mtls.NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	mtime := time.Now()
	write := func(certPEM, keyPEM []byte) {
		t.Helper()
		// Each write a second later: the change shows in the stamp
		// whatever the file system's time resolution.
		mtime = mtime.Add(time.Second)
		for f, data := range map[string][]byte{certFile: certPEM, keyFile: keyPEM} {
			if err := os.WriteFile(f, data, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(f, mtime, mtime); err != nil {
				t.Fatal(err)
			}
		}
	}
	issue := func() {
		t.Helper()
		c, k, err := ca.IssueServer("gate", nil, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		write(c, k)
	}
	issue()
	cfg, _, err := loadTLS(certFile, keyFile, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	// served is the serial of the certificate a client gets in a real
	// handshake (verified against the CA).
	served := func() string {
		t.Helper()
		c, s := net.Pipe()
		defer c.Close()
		defer s.Close()
		go tls.Server(s, cfg).Handshake()
		tc := tls.Client(c, &tls.Config{RootCAs: pool, ServerName: "localhost"})
		if err := tc.Handshake(); err != nil {
			t.Fatalf("handshake: %v", err)
		}
		return tc.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	first := served()
	if again := served(); again != first {
		t.Fatalf("unchanged files, another certificate: %s then %s", first, again)
	}
	issue()
	second := served()
	if second == first {
		t.Fatal("a renewed certificate was not served")
	}
	// A key that does not match its certificate: the loaded pair stays.
	c, _, err := ca.IssueServer("gate", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	_, k, err := ca.IssueServer("gate", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	write(c, k)
	if got := served(); got != second {
		t.Fatalf("after a bad pair: served %s, want the loaded %s", got, second)
	}
	issue()
	if got := served(); got == second {
		t.Fatal("a good pair after a bad one was not served")
	}
}
