package main

import "testing"

func TestGCPercentFor(t *testing.T) {
	const mb = 1 << 20
	for _, c := range []struct {
		live, floor uint64
		want        int
	}{
		{0, 32 * mb, 100},       // no collection yet
		{4 * mb, 32 * mb, 700},  // 4 MiB × 8 = 32 MiB
		{3 * mb, 32 * mb, 960},  // rounded down to tens
		{16 * mb, 32 * mb, 100}, // twice the live heap reaches the floor
		{40 * mb, 32 * mb, 100}, // above the floor: the default
		{1024, 32 * mb, 5000},   // capped
	} {
		if got := gcPercentFor(c.live, c.floor); got != c.want {
			t.Errorf("gcPercentFor(%d, %d) = %d, want %d", c.live, c.floor, got, c.want)
		}
	}
}
