package mtls

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Files name a component's PEM files.
type Files struct {
	// CA is the bundle of CA certificates the component trusts: its peers'
	// certificates must chain to one of them. During a CA rotation it
	// holds the old CA and the new one.
	CA string
	// Cert and Key are the component's certificate and private key; both
	// empty: none (a client that only verifies its server).
	Cert, Key string
}

// Validate checks that the CA is named and that Cert and Key come together.
func (f Files) Validate() error {
	var errs []error
	if f.CA == "" {
		errs = append(errs, errors.New("no CA file"))
	}
	if (f.Cert == "") != (f.Key == "") {
		errs = append(errs, errors.New("give a certificate and its key, or neither"))
	}
	return errors.Join(errs...)
}

// material is one consistent load of a Source's files.
type material struct {
	pool  *x509.CertPool // nil when Files.CA is ""
	cas   int            // certificates in the pool
	cert  *tls.Certificate
	leaf  *x509.Certificate
	role  Role
	stamp string // the files' sizes and mtimes when read
}

// Source holds a component's certificate, key and trusted CAs, loaded
// from files, and reloads them (Reload, Watch) while connections use
// them. It is safe for concurrent use.
type Source struct {
	files Files
	log   *slog.Logger

	reloadMu sync.Mutex
	cur      atomic.Pointer[material]
	// onReload are called after each successful reload.
	onReload []func()
}

// Load reads files into a Source. It fails when a file cannot be read or
// parsed, when the certificate does not match its key, or when the
// certificate has expired. log (nil: discarded) gets reloads and their
// failures, never key material.
func Load(files Files, log *slog.Logger) (*Source, error) {
	if err := files.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := loadMaterial(files)
	if err != nil {
		return nil, err
	}
	s := &Source{files: files, log: log}
	s.cur.Store(m)
	return s, nil
}

// Files returns the files the Source reads.
func (s *Source) Files() Files { return s.files }

// Role returns the role the current certificate names (RoleNone when
// none, or when there is no certificate).
func (s *Source) Role() Role { return s.cur.Load().role }

// Leaf returns the current certificate, nil when there is none.
func (s *Source) Leaf() *x509.Certificate { return s.cur.Load().leaf }

// Describe names the current certificate for logs: its common name, role,
// serial and expiry. It holds nothing secret.
func (s *Source) Describe() []any {
	m := s.cur.Load()
	if m.leaf == nil {
		return []any{"cert", "none", "ca_certs", m.cas}
	}
	return []any{"cert_name", m.leaf.Subject.CommonName, "cert_role", m.role.String(), "cert_serial", serialString(m.leaf.SerialNumber), "cert_not_after", m.leaf.NotAfter.UTC().Format(time.RFC3339), "ca_certs", m.cas}
}

// OnReload registers f to run after every successful reload. Register
// before Watch starts.
func (s *Source) OnReload(f func()) { s.onReload = append(s.onReload, f) }

// Reload reads the files again. On any error the Source keeps what it had
// and the error is returned (and logged): a half-finished rotation never
// leaves a component without a usable certificate.
func (s *Source) Reload() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	m, err := loadMaterial(s.files)
	if err != nil {
		s.log.Warn("certificate reload failed; keeping the loaded certificates", "err", err)
		return err
	}
	s.cur.Store(m)
	s.log.Info("certificates reloaded", s.Describe()...)
	for _, f := range s.onReload {
		f()
	}
	return nil
}

// Watch reloads the files whenever their size or modification time
// changes, checking every interval, until ctx ends. Files that failed to
// load are tried again once they change again (or on Reload).
func (s *Source) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	failed := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		stamp := stampOf(s.files)
		if stamp == s.cur.Load().stamp || stamp == failed {
			continue
		}
		failed = ""
		if err := s.Reload(); err != nil {
			failed = stamp
		}
	}
}

// loadMaterial reads and checks files.
func loadMaterial(f Files) (*material, error) {
	m := &material{stamp: stampOf(f)}
	if f.CA != "" {
		data, err := os.ReadFile(f.CA)
		if err != nil {
			return nil, fmt.Errorf("read CA bundle: %w", err)
		}
		certs, err := parseCerts(data)
		if err != nil {
			return nil, fmt.Errorf("CA bundle %s: %w", f.CA, err)
		}
		m.pool = x509.NewCertPool()
		for _, c := range certs {
			m.pool.AddCert(c)
		}
		m.cas = len(certs)
	}
	if f.Cert == "" {
		return m, nil
	}
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		// tls's message names the files, never their content.
		return nil, fmt.Errorf("load certificate %s and key %s: %w", f.Cert, f.Key, err)
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("parse certificate %s: %w", f.Cert, err)
		}
		cert.Leaf = leaf
	}
	if time.Now().After(leaf.NotAfter) {
		return nil, fmt.Errorf("certificate %s expired at %s", f.Cert, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	m.cert, m.leaf = &cert, leaf
	if r, err := RoleOf(leaf); err == nil {
		m.role = r
	}
	return m, nil
}

// stampOf describes the files' sizes and mtimes, to notice a change.
func stampOf(f Files) string {
	var b strings.Builder
	for _, p := range []string{f.CA, f.Cert, f.Key} {
		if p == "" {
			continue
		}
		if fi, err := os.Stat(p); err == nil {
			fmt.Fprintf(&b, "%d@%d;", fi.Size(), fi.ModTime().UnixNano())
		} else {
			b.WriteString("missing;")
		}
	}
	return b.String()
}

func serialString(n *big.Int) string {
	if n == nil {
		return ""
	}
	return n.Text(16)
}
