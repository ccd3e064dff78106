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
