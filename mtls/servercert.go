package mtls

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"path/filepath"
	"time"
)

// A service that clients outside the cluster reach over TLS (the gate's
// MySQL port) gets a server certificate signed by the cluster CA, so
// that a client may verify it with ca.pem. It names no role: RoleOf
// fails on it, so its key, which such a service holds in plain sight of
// its clients' traffic, is no identity inside the cluster.

// IssueServer creates a key and a server certificate named name, for
// hosts (and the default ones) and valid for validity, signed by the CA;
// both in PEM. The certificate has the server key usage only and no
// role.
func (ca *CA) IssueServer(name string, hosts []string, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	if validity <= 0 {
		return nil, nil, fmt.Errorf("certificate validity must be positive")
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: name, Organization: []string{"Mosaic"}},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	return ca.sign(tmpl, hosts, validity)
}

// InitServerCert makes sure dir (a directory InitDir made) holds a server
// certificate and key named base (<base>.pem, <base>-key.pem) signed by
// its CA, for the hosts of o and valid beyond o.RenewBefore: it issues
// one (IssueServer) unless such a pair is there. It returns the pair's
// files and the files it wrote.
func InitServerCert(dir, base string, o DirOptions) (f Files, written []string, err error) {
	f = Files{CA: filepath.Join(dir, CAFile), Cert: filepath.Join(dir, base+".pem"), Key: filepath.Join(dir, base+"-key.pem")}
	ca, err := LoadCA(f.CA, filepath.Join(dir, CAKeyFile))
	if err != nil {
		return f, nil, err
	}
	if serverCertUsable(f, ca, o) {
		return f, nil, nil
	}
	certPEM, keyPEM, err := ca.IssueServer("mosaic-"+base, o.Hosts, o.Validity)
	if err != nil {
		return f, nil, err
	}
	// The key first, as InitDir does: a process reloading between the
	// two writes sees a mismatch and keeps its old pair.
	if err := WriteFileAtomic(f.Key, keyPEM, 0o600); err != nil {
		return f, nil, err
	}
	if err := WriteFileAtomic(f.Cert, certPEM, 0o644); err != nil {
		return f, nil, err
	}
	return f, []string{f.Cert, f.Key}, nil
}

// serverCertUsable reports whether f's pair is one InitServerCert keeps:
// it loads, chains to ca for server use, covers the hosts and is valid
// beyond RenewBefore.
func serverCertUsable(f Files, ca *CA, o DirOptions) bool {
	m, err := loadMaterial(Files{Cert: f.Cert, Key: f.Key})
	if err != nil || m.leaf == nil {
		return false
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	if _, err := m.leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return false
	}
	return covers(m.leaf, o.Hosts) && time.Until(m.leaf.NotAfter) > o.RenewBefore
}
