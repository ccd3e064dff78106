package mtls

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Role is what a certificate lets its holder be in the cluster.
type Role string

// The roles. A Role value is one of these or RoleNone.
const (
	// RoleNone is no role: a certificate without one, or no certificate.
	RoleNone Role = ""
	// RoleGate is a gate: it runs queries and transactions on tablets as
	// the application and reads their health.
	RoleGate Role = "gate"
	// RoleTablet is a tablet calling a peer tablet (a repair copies a
	// donor's data over the Backup RPC).
	RoleTablet Role = "tablet"
	// RoleOperator is mosaicctl, the failure detector and mosaic up:
	// everything, including reparents, backups and DBA statements.
	RoleOperator Role = "operator"
	// RoleEtcd is the embedded etcd's server and peer certificate.
	RoleEtcd Role = "etcd"
)

// Roles returns every role, in a fixed order.
func Roles() []Role { return []Role{RoleGate, RoleTablet, RoleOperator, RoleEtcd} }

// String returns the role's name, "none" for RoleNone.
func (r Role) String() string {
	if r == RoleNone {
		return "none"
	}
	return string(r)
}

// ParseRole parses a role's name.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles() {
		if string(r) == s {
			return r, nil
		}
	}
	return RoleNone, fmt.Errorf("unknown role %q (want gate, tablet, operator or etcd)", s)
}

// roleScheme and roleHost make the URI SAN mosaic://role/<role>.
const (
	roleScheme = "mosaic"
	roleHost   = "role"
)

// RoleURI returns the URI SAN that names r in a certificate.
func RoleURI(r Role) *url.URL {
	return &url.URL{Scheme: roleScheme, Host: roleHost, Path: "/" + string(r)}
}

// ErrNoRole is returned by RoleOf for a certificate that names no role.
var ErrNoRole = errors.New("certificate names no mosaic role")

// RoleOf returns the role a certificate names in its one mosaic://role/
// URI SAN. A certificate with none returns ErrNoRole; one with several,
// or an unknown role, returns another error. Other URIs are ignored.
func RoleOf(c *x509.Certificate) (Role, error) {
	if c == nil {
		return RoleNone, ErrNoRole
	}
	found := RoleNone
	for _, u := range c.URIs {
		if u.Scheme != roleScheme || u.Host != roleHost {
			continue
		}
		r, err := ParseRole(strings.TrimPrefix(u.Path, "/"))
		if err != nil {
			return RoleNone, fmt.Errorf("certificate %q: %w", c.Subject.CommonName, err)
		}
		if found != RoleNone {
			return RoleNone, fmt.Errorf("certificate %q names more than one role", c.Subject.CommonName)
		}
		found = r
	}
	if found == RoleNone {
		return RoleNone, ErrNoRole
	}
	return found, nil
}
