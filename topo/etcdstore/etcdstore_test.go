package etcdstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/topo"
	"github.com/mosaicdb/mosaic/topo/etcdstore/etcdtest"
	"github.com/mosaicdb/mosaic/topo/topotest"
)

func TestConformance(t *testing.T) {
	addr := etcdtest.Start(t)
	n := 0
	topotest.Run(t, func(t *testing.T) topo.Store {
		n++
		// One etcd for all cases, a fresh root per case.
		return etcdtest.NewStoreAt(t, addr, fmt.Sprintf("/case%d", n))
	})
}

// A lock whose holder goes away without unlocking is released when its
// lease expires.
func TestLockReleasedWhenHolderDies(t *testing.T) {
	addr := etcdtest.Start(t)
	holder := etcdtest.NewStoreAt(t, addr, "/mosaic")
	if _, err := holder.Lock(t.Context(), "locks/x"); err != nil {
		t.Fatal(err)
	}
	holder.Client().Close() // the holder's process "dies": no more keepalives
	other := etcdtest.NewStoreAt(t, addr, "/mosaic")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	start := time.Now()
	u, err := other.Lock(ctx, "locks/x")
	if err != nil {
		t.Fatalf("lock never released: %v", err)
	}
	defer u.Unlock(t.Context())
	if time.Since(start) < time.Second {
		t.Fatalf("lock taken at once: it was not held")
	}
}

// A lease whose holder can no longer renew it is reported lost to the
// holder before etcd expires the key; then the key is gone.
func TestLeaseLostBeforeExpiry(t *testing.T) {
	addr := etcdtest.Start(t)
	holder := etcdtest.NewStoreAt(t, addr, "/mosaic")
	other := etcdtest.NewStoreAt(t, addr, "/mosaic")
	const ttl = 4 * time.Second
	l, err := holder.Lease(t.Context(), "leases/x", []byte("h"), ttl)
	if err != nil {
		t.Fatal(err)
	}
	// Renewals keep it past its ttl.
	time.Sleep(ttl + time.Second)
	select {
	case <-l.Lost():
		t.Fatal("a renewed lease was lost")
	default:
	}
	_, events, err := other.Watch(t.Context(), "leases/x")
	if err != nil {
		t.Fatal(err)
	}
	deleted := make(chan time.Time, 1)
	go func() {
		for ev := range events {
			if ev.Deleted {
				deleted <- time.Now()
				return
			}
		}
	}()
	// The holder's process "dies" for etcd: no renewals, no watch. It
	// counts the lease lost at once (it cannot see the key any more); what
	// matters is that it does so before etcd expires the key.
	holder.Client().Close()
	var lostAt time.Time
	select {
	case <-l.Lost():
		lostAt = time.Now()
	case <-time.After(3 * ttl):
		t.Fatal("lease never reported lost")
	}
	var deletedAt time.Time
	select {
	case deletedAt = <-deleted:
	case <-time.After(5 * ttl):
		t.Fatal("key of a dead holder never expired")
	}
	if !deletedAt.After(lostAt) {
		t.Fatalf("key expired at %v, before the holder knew at %v", deletedAt, lostAt)
	}
}

// Without etcd every call ends when its context does: a process that
// stops (shutdown paths bound their topo calls) must not wait for an etcd
// that is gone. The lock's lease grant used the client's own context and
// waited until the client closed.
func TestCallsBoundedWithoutEtcd(t *testing.T) {
	addr, stopEtcd := etcdtest.StartStoppable(t, nil)
	s := etcdtest.NewStoreAt(t, addr, "/mosaic")
	held, err := s.Lock(t.Context(), "locks/held")
	if err != nil {
		t.Fatal(err)
	}
	lease, err := s.Lease(t.Context(), "leases/x", []byte("h"), 4*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	wctx, stopWatch := context.WithCancel(t.Context())
	_, events, err := s.Watch(wctx, "leases/")
	if err != nil {
		t.Fatal(err)
	}
	// A second store waits for the held lock when etcd goes.
	waiter := etcdtest.NewStoreAt(t, addr, "/mosaic")
	waitCtx, cancelWait := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancelWait()
	waited := make(chan error, 1)
	go func() { _, err := waiter.Lock(waitCtx, "locks/held"); waited <- err }()
	time.Sleep(500 * time.Millisecond) // let it queue
	stopEtcd()
	select {
	case err := <-waited:
		if err == nil {
			t.Error("a held lock was taken")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a lock waiting for its holder did not return 20s after its 1.5s context, etcd gone")
	}

	bounded := func(what string, fn func(ctx context.Context) error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		done := make(chan error, 1)
		go func() { done <- fn(ctx) }()
		select {
		case err := <-done:
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("%s took %v with a 300ms context", what, took)
			}
			if what != "release lease" && err == nil {
				t.Errorf("%s without etcd succeeded", what)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s without etcd did not return 20s after a 300ms context", what)
		}
	}
	bounded("lock", func(ctx context.Context) error { _, err := s.Lock(ctx, "locks/y"); return err })
	bounded("unlock", held.Unlock)
	bounded("release lease", lease.Release)
	bounded("lease", func(ctx context.Context) error {
		_, err := s.Lease(ctx, "leases/y", []byte("h"), 4*time.Second)
		return err
	})
	bounded("get", func(ctx context.Context) error { _, _, err := s.Get(ctx, "x"); return err })
	bounded("update", func(ctx context.Context) error { _, err := s.Update(ctx, "x", []byte("v"), 0); return err })
	bounded("watch", func(ctx context.Context) error { _, _, err := s.Watch(ctx, "x"); return err })
	stopWatch()
	timeout := time.After(10 * time.Second)
	for open := true; open; {
		select {
		case _, open = <-events:
		case <-timeout:
			t.Fatal("a watch did not end 10s after its context")
		}
	}
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close without etcd did not return in 10s")
	}
}
