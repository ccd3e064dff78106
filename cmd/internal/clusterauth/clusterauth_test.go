package clusterauth

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/mosaicdb/mosaic/mtls"
	"github.com/mosaicdb/mosaic/mtls/mtlstest"
	"github.com/mosaicdb/mosaic/topo/etcdstore"
)

func load(t *testing.T, r mtls.Role, args ...string) (*Setup, error) {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	f := Add(fs, r)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return f.Load(slog.New(slog.DiscardHandler))
}

func TestLoad(t *testing.T) {
	t.Setenv(EnvCertDir, "")
	t.Setenv(EnvTopoPassword, "")
	ca := mtlstest.New(t)
	op := ca.Files(mtls.RoleOperator)

	refused := []struct {
		name string
		role mtls.Role
		args []string
		want string
	}{
		{"nothing", mtls.RoleGate, nil, "--insecure"},
		{"insecure and certificates", mtls.RoleGate, []string{"--insecure", "--cert-dir", ca.Dir}, "exclusive"},
		{"a certificate of another role", mtls.RoleGate, []string{"--cluster-ca", op.CA, "--cluster-cert", op.Cert, "--cluster-key", op.Key}, "role operator"},
		{"a certificate without its key", mtls.RoleOperator, []string{"--cluster-ca", op.CA, "--cluster-cert", op.Cert}, "key"},
		{"a topo certificate without --topo-ca", mtls.RoleGate, []string{"--cert-dir", ca.Dir, "--topo-cert", op.Cert, "--topo-key", op.Key}, "--topo-ca"},
		{"a topo user without a password", mtls.RoleGate, []string{"--cert-dir", ca.Dir, "--topo-user", "mosaic"}, "no password"},
		{"a missing directory", mtls.RoleGate, []string{"--cert-dir", filepath.Join(t.TempDir(), "none")}, "no such file"},
	}
	for _, c := range refused {
		if _, err := load(t, c.role, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one about %q", c.name, err, c.want)
		}
	}

	s, err := load(t, mtls.RoleTablet, "--cert-dir", ca.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Cluster.Role() != mtls.RoleTablet || s.Topo != s.Cluster || s.Insecure {
		t.Fatalf("--cert-dir: cluster role %v, topo %p (cluster %p), insecure %v", s.Cluster.Role(), s.Topo, s.Cluster, s.Insecure)
	}
	if got := s.TabletCreds().Info().SecurityProtocol; got != "tls" {
		t.Fatalf("tablet credentials speak %q", got)
	}
	// The directory may come from the environment.
	t.Setenv(EnvCertDir, ca.Dir)
	if s, err := load(t, mtls.RoleGate); err != nil || s.Cluster.Role() != mtls.RoleGate {
		t.Fatalf("%s: %v", EnvCertDir, err)
	}
	t.Setenv(EnvCertDir, "")

	s, err = load(t, mtls.RoleGate, "--insecure")
	if err != nil || s.Cluster != nil || s.Topo != nil {
		t.Fatalf("--insecure: %+v, %v", s, err)
	}
	if got := s.TabletCreds().Info().SecurityProtocol; got != "insecure" {
		t.Fatalf("insecure tablet credentials speak %q", got)
	}

	// An external etcd: its own CA, a user whose password is in a file.
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err = load(t, mtls.RoleOperator, "--cert-dir", ca.Dir, "--topo-ca", op.CA, "--topo-user", "mosaic", "--topo-password-file", pw)
	if err != nil {
		t.Fatal(err)
	}
	if s.Topo == s.Cluster || s.Topo.Leaf() != nil || s.TopoUser != "mosaic" || s.TopoPassword != "s3cret" {
		t.Fatalf("external etcd: topo %p (cluster %p, leaf %v), user %q, password %q", s.Topo, s.Cluster, s.Topo.Leaf(), s.TopoUser, s.TopoPassword)
	}
	var cfg etcdstore.Config
	s.ApplyTopo(&cfg)
	if cfg.TLS != s.Topo || cfg.Username != "mosaic" || cfg.Password != "s3cret" {
		t.Fatalf("ApplyTopo: %+v", cfg)
	}
	// Or in the environment.
	t.Setenv(EnvTopoPassword, "fromenv")
	if s, err := load(t, mtls.RoleOperator, "--cert-dir", ca.Dir, "--topo-user", "mosaic"); err != nil || s.TopoPassword != "fromenv" {
		t.Fatalf("%s: %v", EnvTopoPassword, err)
	}
}
