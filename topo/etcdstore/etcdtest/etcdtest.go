package etcdtest

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/mtls"
	"github.com/mosaicdb/mosaic/mtls/mtlstest"
	"github.com/mosaicdb/mosaic/testports"
	"github.com/mosaicdb/mosaic/topo/etcdstore"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago and
// that no other helper of this test binary was given (package testports).
func FreePort(t testing.TB) int {
	t.Helper()
	ports, err := testports.Free(1)
	if err != nil {
		t.Fatal(err)
	}
	return ports[0]
}

// Start starts an embedded etcd on free ports, stopped when the test ends,
// and returns its client address. It serves plaintext to anyone; see
// StartSecure.
func Start(t testing.TB) string {
	t.Helper()
	return start(t, nil)
}

// StartSecure is Start for an etcd that serves TLS with the etcd
// certificate of ca and demands a client certificate of ca (clients and
// peers): connect with NewSecureStoreAt.
func StartSecure(t testing.TB, ca *mtlstest.CA) string {
	t.Helper()
	return start(t, embeddedTLS(ca))
}

func embeddedTLS(ca *mtlstest.CA) *etcdstore.EmbeddedTLS {
	if ca == nil {
		return nil
	}
	f := ca.Files(mtls.RoleEtcd)
	return &etcdstore.EmbeddedTLS{CA: f.CA, Cert: f.Cert, Key: f.Key}
}

func start(t testing.TB, tlsFiles *etcdstore.EmbeddedTLS) string {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		client := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
		peer := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		e, err := etcdstore.StartEmbedded(ctx, etcdstore.EmbeddedConfig{Dir: t.TempDir(), ClientAddr: client, PeerAddr: peer, TLS: tlsFiles})
		cancel()
		if err != nil {
			lastErr = err
			continue
		}
		t.Cleanup(e.Close)
		return client
	}
	t.Fatalf("start embedded etcd: %v", lastErr)
	return ""
}

// NewStore returns a store on a fresh embedded etcd, under its own root.
func NewStore(t testing.TB) *etcdstore.Store {
	t.Helper()
	return NewStoreAt(t, Start(t), etcdstore.DefaultRoot)
}

// NewStoreAt returns a store on an existing etcd, closed when the test ends.
func NewStoreAt(t testing.TB, addr, root string) *etcdstore.Store {
	t.Helper()
	return NewSecureStoreAt(t, addr, root, nil)
}

// NewSecureStoreAt returns a store on an etcd StartSecure started, with
// the operator certificate of ca (nil ca: plaintext), closed when the
// test ends.
func NewSecureStoreAt(t testing.TB, addr, root string, ca *mtlstest.CA) *etcdstore.Store {
	t.Helper()
	cfg := etcdstore.DefaultConfig()
	cfg.Endpoints = []string{addr}
	cfg.Root = root
	cfg.LockTTL = 5 * time.Second
	if ca != nil {
		cfg.TLS = ca.Source(t, mtls.RoleOperator)
	}
	s, err := etcdstore.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// StartStoppable is Start for a test that stops etcd itself, to see what
// its clients do without it. stop returns once etcd refuses new
// connections; its graceful close, which lets open streams run for up to
// 7 seconds, goes on in the background and the test's end waits for it.
// stop may be called more than once. A non-nil ca makes it serve as
// StartSecure's does.
func StartStoppable(t testing.TB, ca *mtlstest.CA) (addr string, stop func()) {
	t.Helper()
	client := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	peer := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	e, err := etcdstore.StartEmbedded(ctx, etcdstore.EmbeddedConfig{Dir: t.TempDir(), ClientAddr: client, PeerAddr: peer, TLS: embeddedTLS(ca)})
	if err != nil {
		t.Fatalf("start embedded etcd: %v", err)
	}
	closed := make(chan struct{})
	var once sync.Once
	stop = func() {
		once.Do(func() { go func() { e.Close(); close(closed) }() })
		for {
			c, err := net.DialTimeout("tcp", client, time.Second)
			if err != nil {
				return
			}
			c.Close()
			select {
			case <-closed:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	t.Cleanup(func() { stop(); <-closed })
	return client, stop
}
