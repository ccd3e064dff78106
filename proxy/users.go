package proxy

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"sigs.k8s.io/yaml"
)

// Authentication plugins the gate speaks.
const (
	authNative      = "mysql_native_password"
	authCachingSha2 = "caching_sha2_password"
)

// User is an account that may connect to the gate, with what it may do.
type User struct {
	// Name is the MySQL user name.
	Name string `json:"name"`
	// Password is the plain-text password. Empty with an empty
	// PasswordHash means the account has no password.
	Password string `json:"password,omitempty"`
	// PasswordHash is the password as mysqld stores it instead of in
	// plain text: "*" and 40 hex digits for mysql_native_password
	// (SELECT PASSWORD('x') on MariaDB), or "$A$005$..." as MySQL 8
	// stores caching_sha2_password (authentication_string).
	PasswordHash string `json:"password_hash,omitempty"`
	// Plugin is the authentication plugin the account uses:
	// mysql_native_password or caching_sha2_password. It defaults to the
	// plugin of the hash, or the gate's default plugin for plain-text
	// passwords.
	Plugin string `json:"plugin,omitempty"`
	// Keyspaces lists the keyspaces the account may use; empty (or "*")
	// means every keyspace.
	Keyspaces []string `json:"keyspaces,omitempty"`
	// ReadOnly accounts may only read: writes fail with error 1142, and
	// their statements run on the tablets' read-only mysqld account, so
	// that mysqld refuses what the gate would not see as a write (a
	// function that writes, NEXTVAL).
	ReadOnly bool `json:"read_only,omitempty"`
	// Privileges are server-wide rights beyond the account's keyspaces,
	// named as mysqld names them: PROCESS (SHOW PROCESSLIST shows every
	// account's connections, not only the account's own) and CONNECTION
	// ADMIN (KILL ends other accounts' connections and statements).
	Privileges []string `json:"privileges,omitempty"`
}

// Gate-wide privileges of the users file.
const (
	privProcess         = "PROCESS"
	privConnectionAdmin = "CONNECTION ADMIN"
)

// hasPrivilege says whether the account holds priv (one of the priv*
// constants; the list is normalized to them).
func (u *User) hasPrivilege(priv string) bool {
	for _, p := range u.Privileges {
		if p == priv {
			return true
		}
	}
	return false
}

// usersFile is the users file: JSON or YAML.
type usersFile struct {
	Users []User `json:"users"`
}

// LoadUsersFile reads a users file (JSON or YAML, see ParseUsers).
func LoadUsersFile(path string) ([]User, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read users file: %w", err)
	}
	users, err := ParseUsers(data)
	if err != nil {
		return nil, fmt.Errorf("users file %s: %w", path, err)
	}
	return users, nil
}

// ParseUsers parses the content of a users file:
//
//	users:
//	  - name: app
//	    password: s3cret
//	  - name: reporting
//	    password_hash: "*14E65567ABDB5135D0CFD9A70B3032C179A49EE7"
//	    keyspaces: [customer]
//	    read_only: true
//	  - name: ops
//	    password_hash: "*..."
//	    privileges: [PROCESS, CONNECTION ADMIN]
//
// JSON with the same fields works too. Unknown fields are errors.
func ParseUsers(data []byte) ([]User, error) {
	var f usersFile
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, err
	}
	if len(f.Users) == 0 {
		return nil, errors.New("no users")
	}
	seen := map[string]bool{}
	for i := range f.Users {
		u := &f.Users[i]
		if seen[u.Name] {
			return nil, fmt.Errorf("user %q listed twice", u.Name)
		}
		seen[u.Name] = true
		if err := u.normalize(""); err != nil {
			return nil, err
		}
	}
	return f.Users, nil
}

// normalize checks an account and fills in its plugin; defaultPlugin is
// the gate's ("" for mysql_native_password).
func (u *User) normalize(defaultPlugin string) error {
	if u.Name == "" {
		return errors.New("a user has no name")
	}
	if u.Password != "" && u.PasswordHash != "" {
		return fmt.Errorf("user %q: give password or password_hash, not both", u.Name)
	}
	hashPlugin := ""
	if u.PasswordHash != "" {
		switch {
		case strings.HasPrefix(u.PasswordHash, "*"):
			if _, err := parseNativeHash(u.PasswordHash); err != nil {
				return fmt.Errorf("user %q: %w", u.Name, err)
			}
			hashPlugin = authNative
		case strings.HasPrefix(u.PasswordHash, "$A$"), strings.HasPrefix(u.PasswordHash, "0x"), strings.HasPrefix(u.PasswordHash, "0X"):
			if _, err := parseSha2Crypt(u.PasswordHash); err != nil {
				return fmt.Errorf("user %q: %w", u.Name, err)
			}
			hashPlugin = authCachingSha2
		default:
			return fmt.Errorf("user %q: password_hash is neither *HEX (mysql_native_password) nor $A$... or its 0x hex (caching_sha2_password)", u.Name)
		}
	}
	switch u.Plugin {
	case "":
		switch {
		case hashPlugin != "":
			u.Plugin = hashPlugin
		case defaultPlugin != "":
			u.Plugin = defaultPlugin
		default:
			u.Plugin = authNative
		}
	case authNative, authCachingSha2:
		// A native hash serves caching_sha2_password through its full
		// authentication; a caching_sha2 hash cannot check a native scramble.
		if hashPlugin == authCachingSha2 && u.Plugin == authNative {
			return fmt.Errorf("user %q: a caching_sha2_password hash cannot serve mysql_native_password", u.Name)
		}
	default:
		return fmt.Errorf("user %q: unknown plugin %q (mysql_native_password or caching_sha2_password)", u.Name, u.Plugin)
	}
	for _, ks := range u.Keyspaces {
		if ks == "" {
			return fmt.Errorf("user %q: empty keyspace name", u.Name)
		}
	}
	for i, p := range u.Privileges {
		switch n := strings.Join(strings.Fields(strings.ToUpper(strings.ReplaceAll(p, "_", " "))), " "); n {
		case privProcess, privConnectionAdmin:
			u.Privileges[i] = n
		default:
			return fmt.Errorf("user %q: unknown privilege %q (PROCESS or CONNECTION ADMIN)", u.Name, p)
		}
	}
	return nil
}

// mayUseKeyspace says whether the account may use keyspace ks.
func (u *User) mayUseKeyspace(ks string) bool {
	if len(u.Keyspaces) == 0 || ks == "" {
		return true
	}
	for _, k := range u.Keyspaces {
		if k == "*" || strings.EqualFold(k, ks) {
			return true
		}
	}
	return false
}
