package etcdstore_test

import (
	"context"
	"errors"
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
	l, err := holder.Lease(t.Context(), "leases/x", []byte("h"), 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// Renewals keep it well past its ttl.
	time.Sleep(4 * time.Second)
	select {
	case <-l.Lost():
		t.Fatal("a renewed lease was lost")
	default:
	}
	if _, _, err := other.Get(t.Context(), "leases/x"); err != nil {
		t.Fatalf("renewed lease key: %v", err)
	}
	holder.Client().Close() // no more renewals
	var lostAt time.Time
	select {
	case <-l.Lost():
		lostAt = time.Now()
	case <-time.After(10 * time.Second):
		t.Fatal("lease never reported lost")
	}
	// The key is still there when the holder learns it lost it.
	if _, _, err := other.Get(t.Context(), "leases/x"); err != nil {
		t.Fatalf("key gone before the holder knew: %v", err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, _, err := other.Get(t.Context(), "leases/x")
		if errors.Is(err, topo.ErrNoNode) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("key of a dead holder never expired")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if gap := time.Since(lostAt); gap < 200*time.Millisecond {
		t.Fatalf("key expired only %v after the holder learned it lost it", gap)
	}
}
