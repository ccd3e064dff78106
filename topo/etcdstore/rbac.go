package etcdstore

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The etcd users EnableRBAC makes, one per role of the cluster. etcd
// takes the common name of a client certificate as the user, and these
// are the names of the certificates `mosaicctl certs init` issues.
const (
	UserGate     = "mosaic-gate"
	UserTablet   = "mosaic-tablet"
	UserOperator = "mosaic-operator"
)

// etcd roles EnableRBAC makes besides etcd's own root.
const (
	roleRead  = "mosaic-read"
	roleWrite = "mosaic-write"
)

// EnableRBAC turns etcd's authentication on with a user per role of the
// cluster, none with a password (only a certificate of the CA, with that
// common name, can act as one): UserGate may read the keys under the
// store's root, UserTablet read and write them (records, locks, leases),
// and UserOperator is etcd's root. Any other client, a certificate of
// the etcd role included, can do nothing. It needs an etcd that demands
// client certificates, and a store that may administer etcd: authentication
// still off, or a root user. When authentication is on already it
// changes nothing.
func (s *Store) EnableRBAC(ctx context.Context) error {
	st, err := s.cli.AuthStatus(ctx)
	if err != nil {
		return fmt.Errorf("etcd auth status: %w", err)
	}
	if st.Enabled {
		return nil
	}
	prefix := s.root + "/"
	end := clientv3.GetPrefixRangeEnd(prefix)
	type step struct {
		what string
		do   func() error
	}
	exists := func(err error) error {
		if errors.Is(err, rpctypes.ErrRoleAlreadyExist) || errors.Is(err, rpctypes.ErrUserAlreadyExist) {
			return nil
		}
		return err
	}
	addRole := func(name string) step {
		return step{"add role " + name, func() error { _, err := s.cli.RoleAdd(ctx, name); return exists(err) }}
	}
	grant := func(role string, perm clientv3.PermissionType) step {
		return step{"grant " + role + " on " + prefix, func() error {
			_, err := s.cli.RoleGrantPermission(ctx, role, prefix, end, perm)
			return err
		}}
	}
	steps := []step{
		addRole(roleRead), grant(roleRead, clientv3.PermissionType(clientv3.PermRead)),
		addRole(roleWrite), grant(roleWrite, clientv3.PermissionType(clientv3.PermReadWrite)),
		addRole("root"),
	}
	for _, u := range []struct{ name, role string }{{"root", "root"}, {UserOperator, "root"}, {UserTablet, roleWrite}, {UserGate, roleRead}} {
		steps = append(steps,
			step{"add user " + u.name, func() error {
				_, err := s.cli.UserAddWithOptions(ctx, u.name, "", &clientv3.UserAddOptions{NoPassword: true})
				return exists(err)
			}},
			step{"grant role " + u.role + " to " + u.name, func() error { _, err := s.cli.UserGrantRole(ctx, u.name, u.role); return err }},
		)
	}
	steps = append(steps, step{"enable auth", func() error { _, err := s.cli.AuthEnable(ctx); return err }})
	for _, st := range steps {
		if err := st.do(); err != nil {
			return fmt.Errorf("etcd rbac: %s: %w", st.what, err)
		}
	}
	return nil
}
