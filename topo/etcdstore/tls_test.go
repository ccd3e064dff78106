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
