package proxy

import (
	"crypto/tls"
	"fmt"
)

// loadTLS loads the gate's client-facing certificate and key; nil when
// both paths are empty. It also returns the private key, which doubles as
// the RSA key of caching_sha2_password when it is one.
func loadTLS(certFile, keyFile string) (*tls.Config, any, error) {
	if certFile == "" && keyFile == "" {
		return nil, nil, nil
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("gate tls: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, cert.PrivateKey, nil
}

// defaultPlugin is the authentication plugin named in the greeting.
func (g *Gate) defaultPlugin() string { return g.accounts.defaultPlugin }
