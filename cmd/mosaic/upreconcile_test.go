package main

import "testing"

// Tablet ports of every uid of every allowed offset are distinct, and
// none is a default port of the gate or etcd: clusters side by side never
// share a port. (The old layout put a tablet's HTTP port 15100+uid+2000
// on another cluster's mysqld port 17100+uid.)
func TestTabletPortLayout(t *testing.T) {
	owner := map[int]string{15306: "gate", 15000: "gate http", 2379: "etcd", 2380: "etcd peer"}
	for offset := 0; offset <= maxPortOffset; offset += portOffsetStep {
		if err := validatePortOffset(offset); err != nil {
			t.Fatal(err)
		}
		c := upConfig{portOffset: offset}
		for uid := uint32(100); uid < 1000; uid++ {
			mysql, grpc, http := c.tabletPorts(uid)
			for _, p := range []int{mysql, grpc, http} {
				if p >= 32768 {
					t.Fatalf("offset %d uid %d: port %d in the ephemeral range", offset, uid, p)
				}
				if o, taken := owner[p]; taken {
					t.Fatalf("offset %d uid %d: port %d is %s's too", offset, uid, p, o)
				}
				owner[p] = "a tablet"
			}
		}
	}
	for _, bad := range []int{-3000, 1000, 2000, 15000} {
		if validatePortOffset(bad) == nil {
			t.Errorf("offset %d accepted", bad)
		}
	}
}
