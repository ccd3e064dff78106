package mtlstest

import (
	"testing"

	"google.golang.org/grpc/credentials"

	"github.com/mosaicdb/mosaic/mtls"
)

// CA is a certificate directory made by mtls.InitDir.
type CA struct {
	// Dir holds ca.pem, ca-key.pem and <role>.pem, <role>-key.pem.
	Dir string
}

// New makes a CA and a certificate for every role in a fresh temporary
// directory of t.
func New(t testing.TB) *CA {
	t.Helper()
	dir := t.TempDir()
	if _, err := mtls.InitDir(dir, mtls.DefaultDirOptions()); err != nil {
		t.Fatalf("make test certificates: %v", err)
	}
	return &CA{Dir: dir}
}

// Files returns the files of role r.
func (c *CA) Files(r mtls.Role) mtls.Files { return mtls.DirFiles(c.Dir, r) }

// Source loads role r's files.
func (c *CA) Source(t testing.TB, r mtls.Role) *mtls.Source {
	t.Helper()
	s, err := mtls.Load(c.Files(r), nil)
	if err != nil {
		t.Fatalf("load %s certificate: %v", r, err)
	}
	return s
}

// TabletCreds returns gRPC client credentials of role r for dialing
// tablets.
func (c *CA) TabletCreds(t testing.TB, r mtls.Role) credentials.TransportCredentials {
	t.Helper()
	return c.Source(t, r).ClientCredentials(mtls.RoleTablet)
}
