package mtls_test

import (
	"crypto/x509"
	"os"
	"testing"

	"github.com/mosaicdb/mosaic/mtls"
)

// TestInitServerCert: the client-facing server certificate chains to the
// cluster CA for server use, names no role, is kept by a second run and
// made again once it is no longer usable.
func TestInitServerCert(t *testing.T) {
	dir := t.TempDir()
	if _, err := mtls.InitDir(dir, mtls.DefaultDirOptions()); err != nil {
		t.Fatal(err)
	}
	f, written, err := mtls.InitServerCert(dir, "mysql-server", mtls.DefaultDirOptions())
	if err != nil || len(written) != 2 {
		t.Fatalf("first run: %v %v", written, err)
	}
	m, err := mtls.Load(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(f.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	if _, err := mtls.RoleOf(m.Leaf()); err == nil {
		t.Errorf("the server certificate names a role")
	}
	if _, err := m.Leaf().Verify(x509.VerifyOptions{Roots: pool, DNSName: "localhost", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Errorf("verify as a server: %v", err)
	}
	if _, err := m.Leaf().Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Errorf("the server certificate serves as a client certificate")
	}
	if _, written, err := mtls.InitServerCert(dir, "mysql-server", mtls.DefaultDirOptions()); err != nil || len(written) != 0 {
		t.Fatalf("second run wrote %v (%v)", written, err)
	}
	o := mtls.DefaultDirOptions()
	o.Hosts = []string{"db.example"}
	if _, written, err := mtls.InitServerCert(dir, "mysql-server", o); err != nil || len(written) != 2 {
		t.Fatalf("a new host: wrote %v (%v)", written, err)
	}
}
