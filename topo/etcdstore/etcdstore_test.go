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
