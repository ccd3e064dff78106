package mysqlctl

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecretsFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secrets.yaml")
	want := GenerateSecrets()
	if err := WriteSecretsFile(path, want); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("secrets file mode: %v %v", st.Mode(), err)
	}
	if err := WriteSecretsFile(path, want); err == nil {
		t.Error("WriteSecretsFile overwrote a file")
	}
	got, err := LoadSecretsFile(path)
	if err != nil || got != want {
		t.Fatalf("loaded %v, %v", got, err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSecretsFile(path); err == nil || !strings.Contains(err.Error(), "readable by every user") {
		t.Errorf("a world-readable secrets file: %v", err)
	}
	other := filepath.Join(dir, "other.yaml")
	for content, wantErr := range map[string]string{
		"dba_password: x\n":                      "no replication_password",
		"replication_password: x\nextra: 1\n":    "unknown field",
		"replication_password: x\ndba_password:": "",
	} {
		os.Remove(other)
		if err := os.WriteFile(other, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadSecretsFile(other)
		if (wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), wantErr)) {
			t.Errorf("%q: %v, want %q", content, err, wantErr)
		}
	}
}

// TestSecretRedacted: a password never shows when a config holding it is
// printed, logged or marshalled.
func TestSecretRedacted(t *testing.T) {
	s := Secrets{ReplicationPassword: "repl-pw-1", DBAPassword: "dba-pw-2"}
	c := Config{Secrets: s}
	var out strings.Builder
	fmt.Fprintf(&out, "%v %+v %#v %s", c, c, c, s.DBAPassword)
	slog.New(slog.NewTextHandler(&out, nil)).Info("x", "secrets", s, "pw", s.ReplicationPassword, "cfg", c)
	slog.New(slog.NewJSONHandler(&out, nil)).Info("x", "secrets", s, "cfg", c)
	b, _ := json.Marshal(c)
	out.Write(b)
	for _, pw := range []string{"repl-pw-1", "dba-pw-2"} {
		if strings.Contains(out.String(), pw) {
			t.Errorf("%s shows in:\n%s", pw, out.String())
		}
	}
	if s.ReplicationPassword.Reveal() != "repl-pw-1" {
		t.Error("Reveal")
	}
}
