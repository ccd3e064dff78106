package mtls

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// File names in a certificate directory.
const (
	CAFile    = "ca.pem"
	CAKeyFile = "ca-key.pem"
)

// DirFiles returns the files of role r in a directory InitDir made.
func DirFiles(dir string, r Role) Files {
	return Files{
		CA:   filepath.Join(dir, CAFile),
		Cert: filepath.Join(dir, string(r)+".pem"),
		Key:  filepath.Join(dir, string(r)+"-key.pem"),
	}
}

// DirOptions say what InitDir makes.
type DirOptions struct {
	// Hosts go into every certificate besides localhost and 127.0.0.1.
	Hosts []string
	// CAValidity is the validity of a new CA.
	CAValidity time.Duration
	// Validity is the validity of a new certificate.
	Validity time.Duration
	// RenewBefore makes InitDir issue a certificate again when it expires
	// within this long (0: only once expired).
	RenewBefore time.Duration
}

// DefaultDirOptions returns a CA valid 10 years, certificates valid 1 year and
// renewed by InitDir in their last 30 days.
func DefaultDirOptions() DirOptions {
	return DirOptions{CAValidity: 10 * 365 * 24 * time.Hour, Validity: 365 * 24 * time.Hour, RenewBefore: 30 * 24 * time.Hour}
}

// InitDir makes dir a certificate directory: the CA (ca.pem, ca-key.pem)
// unless it is there, and a certificate and key for every role
// (<role>.pem, <role>-key.pem) unless one is there that the CA signed,
// that covers the hosts and that stays valid beyond RenewBefore. It
// returns the files it wrote; running it again writes nothing.
func InitDir(dir string, o DirOptions) (written []string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	caFile, caKeyFile := filepath.Join(dir, CAFile), filepath.Join(dir, CAKeyFile)
	ca, err := LoadCA(caFile, caKeyFile)
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrNotExist):
		if _, serr := os.Stat(caFile); serr == nil {
			return nil, fmt.Errorf("%s exists without its key %s: issue certificates where the CA key is", caFile, caKeyFile)
		}
		if ca, err = NewCA("Mosaic cluster CA", o.CAValidity); err != nil {
			return nil, err
		}
		keyPEM, err := ca.KeyPEM()
		if err != nil {
			return nil, err
		}
		if err := WriteFileAtomic(caKeyFile, keyPEM, 0o600); err != nil {
			return nil, err
		}
		if err := WriteFileAtomic(caFile, ca.CertPEM(), 0o644); err != nil {
			return nil, err
		}
		written = append(written, caFile, caKeyFile)
	default:
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	for _, r := range Roles() {
		f := DirFiles(dir, r)
		if certUsable(f, pool, o) {
			continue
		}
		certPEM, keyPEM, err := ca.Issue(Request{Role: r, Hosts: o.Hosts, Validity: o.Validity})
		if err != nil {
			return written, err
		}
		// The key first: a process reloading between the two writes sees
		// a mismatch and keeps its old pair, then sees both.
		if err := WriteFileAtomic(f.Key, keyPEM, 0o600); err != nil {
			return written, err
		}
		if err := WriteFileAtomic(f.Cert, certPEM, 0o644); err != nil {
			return written, err
		}
		written = append(written, f.Cert, f.Key)
	}
	return written, nil
}

// certUsable reports whether the certificate of f is one InitDir would
// keep: it loads with its key, chains to pool, names its role, covers
// the hosts and is valid beyond RenewBefore.
func certUsable(f Files, pool *x509.CertPool, o DirOptions) bool {
	m, err := loadMaterial(Files{Cert: f.Cert, Key: f.Key})
	if err != nil || m.leaf == nil || m.role == RoleNone {
		return false
	}
	if _, err := m.leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return false
	}
	return covers(m.leaf, o.Hosts) && time.Until(m.leaf.NotAfter) > o.RenewBefore
}

// WriteFileAtomic writes data to path through a temporary file in the
// same directory renamed over it, so that readers see the old content or
// the new, never a part.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
