package proxy

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
)

// loadTLS loads the gate's client-facing certificate and key; nil when
// both paths are empty. It also returns the private key, which doubles as
// the RSA key of caching_sha2_password when it is one. The certificate is
// read again when its files change (clientCert), so a renewed one serves
// new connections without a restart.
func loadTLS(certFile, keyFile string, log *slog.Logger) (*tls.Config, any, error) {
	if certFile == "" && keyFile == "" {
		return nil, nil, nil
	}
	cc := &clientCert{certFile: certFile, keyFile: keyFile, log: log}
	cert, err := cc.load()
	if err != nil {
		return nil, nil, err
	}
	return &tls.Config{GetCertificate: cc.get, MinVersion: tls.VersionTLS12}, cert.PrivateKey, nil
}

// clientCert is the certificate the gate shows clients that ask for TLS.
// Each TLS handshake looks at its files' sizes and modification times
// (two stats) and, when they changed, reads the pair again: a certificate
// renewed in place (mosaic up renews its own, an operator's tooling
// writes a new pair) serves from the next connection on, and connections
// already encrypted keep theirs. A pair that fails to load (half written,
// a key that does not match) leaves the loaded one in use, and is tried
// again once the files change again.
type clientCert struct {
	certFile, keyFile string
	log               *slog.Logger

	mu     sync.Mutex
	cur    *tls.Certificate
	stamp  string // the files' stamp when cur was read
	failed string // the stamp of files that failed to load
}

// load reads the pair; the first load's error is the gate's.
func (c *clientCert) load() (*tls.Certificate, error) {
	stamp := fileStamp(c.certFile, c.keyFile)
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return nil, fmt.Errorf("gate tls: %w", err)
	}
	c.mu.Lock()
	c.cur, c.stamp = &cert, stamp
	c.mu.Unlock()
	return &cert, nil
}

// get is tls.Config.GetCertificate.
func (c *clientCert) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	stamp := fileStamp(c.certFile, c.keyFile)
	c.mu.Lock()
	cur, changed := c.cur, stamp != c.stamp && stamp != c.failed
	c.mu.Unlock()
	if !changed {
		return cur, nil
	}
	cert, err := c.load()
	if err != nil {
		c.mu.Lock()
		c.failed = stamp
		c.mu.Unlock()
		c.log.Warn("client TLS certificate reload failed; keeping the loaded one", "cert", c.certFile, "err", err)
		return cur, nil
	}
	c.log.Info("client TLS certificate reloaded", "cert", c.certFile)
	return cert, nil
}

// fileStamp describes files by size and modification time.
func fileStamp(files ...string) string {
	var s string
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			s += "missing;"
			continue
		}
		s += fmt.Sprintf("%d@%d;", fi.Size(), fi.ModTime().UnixNano())
	}
	return s
}

// defaultPlugin is the authentication plugin named in the greeting.
func (g *Gate) defaultPlugin() string { return g.accounts.defaultPlugin }
