package etcdtest

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

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
// and returns its client address.
func Start(t testing.TB) string {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		client := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
		peer := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		e, err := etcdstore.StartEmbedded(ctx, etcdstore.EmbeddedConfig{Dir: t.TempDir(), ClientAddr: client, PeerAddr: peer})
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
	cfg := etcdstore.DefaultConfig()
	cfg.Endpoints = []string{addr}
	cfg.Root = root
	cfg.LockTTL = 5 * time.Second
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
// stop may be called more than once.
func StartStoppable(t testing.TB) (addr string, stop func()) {
	t.Helper()
	client := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	peer := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	e, err := etcdstore.StartEmbedded(ctx, etcdstore.EmbeddedConfig{Dir: t.TempDir(), ClientAddr: client, PeerAddr: peer})
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
