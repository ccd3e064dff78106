package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mosaicdb/mosaic/mtls"
)

func runCerts(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newCertsCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

// TestCertsCommands runs mosaicctl certs init, show and issue as an
// operator would.
func TestCertsCommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	out, err := runCerts(t, "init", "--dir", dir, "--hosts", "db1.example,10.1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out, "wrote "); n != 10 {
		t.Fatalf("init wrote %d files:\n%s", n, out)
	}
	if out, err := runCerts(t, "init", "--dir", dir, "--hosts", "db1.example,10.1.2.3"); err != nil || !strings.Contains(out, "nothing written") {
		t.Fatalf("second init: %v\n%s", err, out)
	}
	out, err = runCerts(t, "show", mtls.DirFiles(dir, mtls.RoleTablet).Cert, filepath.Join(dir, mtls.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"role tablet", `name "mosaic-tablet"`, "db1.example", "10.1.2.3", "127.0.0.1", "role CA"} {
		if !strings.Contains(out, want) {
			t.Errorf("show: no %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "PRIVATE") {
		t.Errorf("show printed a key:\n%s", out)
	}

	// One more tablet certificate, for one host.
	cert := filepath.Join(t.TempDir(), "zone1-101.pem")
	if _, err := runCerts(t, "issue", "--dir", dir, "--role", "tablet", "--name", "zone1-101", "--hosts", "db7.example", "--cert", cert); err != nil {
		t.Fatal(err)
	}
	src, err := mtls.Load(mtls.Files{CA: filepath.Join(dir, mtls.CAFile), Cert: cert, Key: strings.TrimSuffix(cert, ".pem") + "-key.pem"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if src.Role() != mtls.RoleTablet || src.Leaf().Subject.CommonName != "zone1-101" || src.Leaf().VerifyHostname("db7.example") != nil {
		t.Fatalf("issued %v %q", src.Role(), src.Leaf().Subject.CommonName)
	}
	if fi, err := os.Stat(strings.TrimSuffix(cert, ".pem") + "-key.pem"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("issued key: %v %v", err, fi.Mode().Perm())
	}
	if _, err := runCerts(t, "issue", "--dir", dir, "--role", "root", "--cert", cert); err == nil {
		t.Fatal("issued a certificate of an unknown role")
	}
}
