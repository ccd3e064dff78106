package mysqlctl

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"sigs.k8s.io/yaml"
)

// Secret is a password. It prints as [redacted] (fmt's %v and %s, %#v,
// slog, JSON), so that a config printed or logged whole shows none; Reveal
// gives the password itself to the code that sends it to mysqld.
type Secret string

const redacted = "[redacted]"

// Reveal returns the password.
func (s Secret) Reveal() string { return string(s) }

// String implements fmt.Stringer: [redacted], or "" for no password.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString implements fmt.GoStringer.
func (s Secret) GoString() string { return `"` + s.String() + `"` }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON implements json.Marshaler.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// Secrets are the passwords a tablet shares with others: every tablet of a
// cluster (at least of a shard) needs the same ones. The passwords of the
// accounts only the tablet itself uses are made by each tablet process and
// never leave it.
type Secrets struct {
	// ReplicationPassword is the password of the replication account,
	// which replicas use to reach their primary; required by tablets.
	ReplicationPassword Secret
	// DBAPassword, when set, makes the DBA account an operator may log in
	// with over TCP (Accounts.DBA); without it there is none.
	DBAPassword Secret
	// MonitorPassword, when set, makes the monitoring account for tools
	// such as mysqld_exporter (Accounts.Monitor); without it there is none.
	MonitorPassword Secret
}

// secretsFile is the secrets file's form (YAML or JSON).
type secretsFile struct {
	ReplicationPassword string `json:"replication_password"`
	DBAPassword         string `json:"dba_password,omitempty"`
	MonitorPassword     string `json:"monitor_password,omitempty"`
}

// LoadSecretsFile reads a secrets file:
//
//	replication_password: ...
//	dba_password: ...       # optional
//	monitor_password: ...   # optional
//
// A file anybody may read is refused: the passwords open every tablet's
// mysqld. Unknown fields are errors.
func LoadSecretsFile(path string) (Secrets, error) {
	st, err := os.Stat(path)
	if err != nil {
		return Secrets{}, fmt.Errorf("secrets file: %w", err)
	}
	if st.Mode().Perm()&0o004 != 0 {
		return Secrets{}, fmt.Errorf("secrets file %s is readable by every user (mode %v): chmod 0600 it (or 0640 for a group)", path, st.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Secrets{}, fmt.Errorf("secrets file: %w", err)
	}
	var f secretsFile
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return Secrets{}, fmt.Errorf("secrets file %s: %w", path, err)
	}
	if f.ReplicationPassword == "" {
		return Secrets{}, fmt.Errorf("secrets file %s has no replication_password", path)
	}
	return Secrets{
		ReplicationPassword: Secret(f.ReplicationPassword),
		DBAPassword:         Secret(f.DBAPassword),
		MonitorPassword:     Secret(f.MonitorPassword),
	}, nil
}

// GenerateSecrets returns new random passwords for every field.
func GenerateSecrets() Secrets {
	return Secrets{
		ReplicationPassword: newPassword(),
		DBAPassword:         newPassword(),
		MonitorPassword:     newPassword(),
	}
}

// WriteSecretsFile writes s to a new file at path, readable by its owner
// only; it fails if the file exists.
func WriteSecretsFile(path string, s Secrets) error {
	data, err := yaml.Marshal(secretsFile{
		ReplicationPassword: s.ReplicationPassword.Reveal(),
		DBAPassword:         s.DBAPassword.Reveal(),
		MonitorPassword:     s.MonitorPassword.Reveal(),
	})
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write secrets file: %w", err)
	}
	_, err = f.Write(data)
	return errors.Join(err, f.Close())
}

// newPassword returns 32 random characters (192 bits).
func newPassword() Secret {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return Secret(base64.RawURLEncoding.EncodeToString(b))
}
