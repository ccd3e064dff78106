package cluster

import (
	"testing"

	"google.golang.org/grpc/credentials"

	"github.com/mosaicdb/mosaic/mtls"
	"github.com/mosaicdb/mosaic/mtls/mtlstest"
	"github.com/mosaicdb/mosaic/tablet/tmclient"
)

// Security is how a test cluster's components prove who they are: the
// certificates of Certs, a CA made for the test (etcd and every gRPC
// connection mutual TLS, tablet RPCs authorized by role), or, with nil
// Certs, nothing at all (--insecure).
type Security struct {
	Certs *mtlstest.CA
}

// Insecure reports whether the cluster runs without TLS.
func (s Security) Insecure() bool { return s.Certs == nil }

// Flags are the flags that give a mosaic or mosaicctl process of the
// cluster its certificates (each binary picks its role's files).
func (s Security) Flags() []string {
	if s.Certs == nil {
		return []string{"--insecure"}
	}
	return []string{"--cert-dir", s.Certs.Dir}
}

// Creds returns credentials to call the cluster's tablets as role r.
func (s Security) Creds(t testing.TB, r mtls.Role) credentials.TransportCredentials {
	t.Helper()
	if s.Certs == nil {
		return tmclient.Insecure()
	}
	return s.Certs.TabletCreds(t, r)
}

// Source returns role r's certificate, nil when insecure.
func (s Security) Source(t testing.TB, r mtls.Role) *mtls.Source {
	t.Helper()
	if s.Certs == nil {
		return nil
	}
	return s.Certs.Source(t, r)
}
