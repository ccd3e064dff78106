package etcdstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/mtls"
	"github.com/mosaicdb/mosaic/mtls/mtlstest"
	"github.com/mosaicdb/mosaic/topo"
	"github.com/mosaicdb/mosaic/topo/etcdstore"
	"github.com/mosaicdb/mosaic/topo/etcdstore/etcdtest"
	"github.com/mosaicdb/mosaic/topo/topotest"
)

// The whole conformance suite over TLS with client certificates: gets,
// compare-and-swaps, watches, locks and leases all work through it.
func TestConformanceTLS(t *testing.T) {
	ca := mtlstest.New(t)
	addr := etcdtest.StartSecure(t, ca)
	n := 0
	topotest.Run(t, func(t *testing.T) topo.Store {
		n++
		return etcdtest.NewSecureStoreAt(t, addr, fmt.Sprintf("/case%d", n), ca)
	})
}

// An etcd serving with client-certificate authentication refuses, for
// reads and writes alike, a client without a certificate, one whose
// certificate is of another CA, and a plaintext one; the write of each
// leaves nothing behind.
func TestTLSRefusesStrangers(t *testing.T) {
	ca, foreign := mtlstest.New(t), mtlstest.New(t)
	addr := etcdtest.StartSecure(t, ca)
	good := etcdtest.NewSecureStoreAt(t, addr, "/mosaic", ca)
	if _, err := good.Create(t.Context(), "keyspaces/ks/vschema", []byte("ok")); err != nil {
		t.Fatalf("a client with the cluster's certificate: %v", err)
	}

	noCert, err := mtls.Load(mtls.Files{CA: ca.Files(mtls.RoleOperator).CA}, nil)
	if err != nil {
		t.Fatal(err)
	}
	foreignCert := foreign.Files(mtls.RoleOperator)
	foreignCert.CA = ca.Files(mtls.RoleOperator).CA // it trusts etcd; etcd must not trust it
	foreignSrc, err := mtls.Load(foreignCert, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		tls  *mtls.Source
	}{{"no certificate", noCert}, {"certificate of another CA", foreignSrc}, {"plaintext", nil}} {
		t.Run(c.name, func(t *testing.T) {
			cfg := etcdstore.DefaultConfig()
			cfg.Endpoints = []string{addr}
			cfg.DialTimeout = 2 * time.Second
			cfg.TLS = c.tls
			s, err := etcdstore.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			defer cancel()
			if v, _, err := s.Get(ctx, "keyspaces/ks/vschema"); err == nil {
				t.Fatalf("read %q", v)
			}
			ctx, cancel = context.WithTimeout(t.Context(), 2*time.Second)
			defer cancel()
			if _, err := s.Update(ctx, "keyspaces/ks/vschema", []byte("evil"), 0); err == nil {
				t.Fatal("wrote the vschema")
			}
			v, _, err := good.Get(t.Context(), "keyspaces/ks/vschema")
			if err != nil || string(v) != "ok" {
				t.Fatalf("vschema is %q, %v after the stranger's write", v, err)
			}
		})
	}
}

func TestConfigPasswordNeedsTLS(t *testing.T) {
	cfg := etcdstore.DefaultConfig()
	cfg.Username, cfg.Password = "mosaic", "secret"
	if err := cfg.Validate(); err == nil {
		t.Fatal("a password over plaintext was accepted")
	}
	cfg.Password = ""
	if err := cfg.Validate(); err == nil {
		t.Fatal("a user without a password was accepted")
	}
}

// EnableRBAC gives each role's certificate what it needs and no more:
// the gate reads, the tablet reads and writes (records, locks, leases:
// the whole conformance suite), the operator is root, anyone else
// nothing. A user with a password (an external etcd's RBAC) is who the
// password says, whatever the certificate.
func TestRBAC(t *testing.T) {
	ca := mtlstest.New(t)
	addr := etcdtest.StartSecure(t, ca)
	store := func(r mtls.Role, root string) *etcdstore.Store {
		cfg := etcdstore.DefaultConfig()
		cfg.Endpoints, cfg.Root, cfg.LockTTL, cfg.DialTimeout = []string{addr}, root, 5*time.Second, 2*time.Second
		cfg.TLS = ca.Source(t, r)
		s, err := etcdstore.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	op := store(mtls.RoleOperator, "/mosaic")
	ctx := t.Context()
	if err := op.EnableRBAC(ctx); err != nil {
		t.Fatal(err)
	}
	if err := op.EnableRBAC(ctx); err != nil {
		t.Fatalf("EnableRBAC again: %v", err)
	}
	if _, err := op.Create(ctx, "keyspaces/ks", []byte("v1")); err != nil {
		t.Fatalf("operator write: %v", err)
	}

	gate := store(mtls.RoleGate, "/mosaic")
	if v, _, err := gate.Get(ctx, "keyspaces/ks"); err != nil || string(v) != "v1" {
		t.Fatalf("gate read: %q, %v", v, err)
	}
	wctx, stop := context.WithCancel(ctx)
	if _, _, err := gate.Watch(wctx, "keyspaces/"); err != nil {
		t.Fatalf("gate watch: %v", err)
	}
	stop()
	if _, err := gate.Update(ctx, "keyspaces/ks", []byte("evil"), 0); err == nil {
		t.Fatal("a gate wrote the topology")
	}
	if _, err := gate.Create(ctx, "keyspaces/other", []byte("evil")); err == nil {
		t.Fatal("a gate created a record")
	}
	lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	if _, err := gate.Lock(lctx, "locks/x"); err == nil {
		t.Fatal("a gate took a lock")
	}
	cancel()

	// The tablet role can do all a store does (under the root).
	n := 0
	topotest.Run(t, func(t *testing.T) topo.Store {
		n++
		return store(mtls.RoleTablet, fmt.Sprintf("/mosaic/case%d", n))
	})
	tab := store(mtls.RoleTablet, "/other")
	if _, err := tab.Create(ctx, "x", []byte("v")); err == nil {
		t.Fatal("a tablet wrote outside the root")
	}

	ctx3, cancel3 := context.WithTimeout(ctx, 3*time.Second)
	defer cancel3()
	if _, _, err := store(mtls.RoleEtcd, "/mosaic").Get(ctx3, "keyspaces/ks"); err == nil {
		t.Fatal("etcd's own certificate read the topology as a client")
	}

	// A user with a password reads only what its role gives.
	if _, err := op.Client().UserAdd(ctx, "reader", "pw-for-test"); err != nil {
		t.Fatal(err)
	}
	if _, err := op.Client().UserGrantRole(ctx, "reader", "mosaic-read"); err != nil {
		t.Fatal(err)
	}
	cfg := etcdstore.DefaultConfig()
	cfg.Endpoints, cfg.DialTimeout = []string{addr}, 2*time.Second
	cfg.TLS = ca.Source(t, mtls.RoleOperator) // a root certificate; the password wins
	cfg.Username, cfg.Password = "reader", "pw-for-test"
	reader, err := etcdstore.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	if v, _, err := reader.Get(ctx, "keyspaces/ks"); err != nil || string(v) != "v1" {
		t.Fatalf("password user read: %q, %v", v, err)
	}
	if _, err := reader.Update(ctx, "keyspaces/ks", []byte("evil"), 0); err == nil {
		t.Fatal("a read-only password user wrote")
	}
	cfg.Password = "wrong"
	if bad, err := etcdstore.New(cfg); err == nil {
		defer bad.Close()
		bctx, bcancel := context.WithTimeout(ctx, 3*time.Second)
		defer bcancel()
		if _, _, err := bad.Get(bctx, "keyspaces/ks"); err == nil {
			t.Fatal("a wrong password read the topology")
		}
	}
}
