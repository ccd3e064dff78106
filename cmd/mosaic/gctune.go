package main

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"github.com/spf13/pflag"
)

// gcFlags hold the GC tuning flag of the long-lived processes.
type gcFlags struct{ minHeapMB int }

func addGCFlags(fs *pflag.FlagSet) *gcFlags {
	f := &gcFlags{}
	fs.IntVar(&f.minHeapMB, "gc-min-heap-mb", 32, "let the Go heap grow to this many MiB before collecting (0: the Go default, GOGC=100; ignored when GOGC is set)")
	return f
}

// run keeps the collector's heap goal at no less than the floor until ctx
// ends. A gate or tablet keeps a few MiB live and allocates a few KiB per
// query: with the default goal of twice the live heap it collects
// hundreds of times a second under load. Raising GOGC while the live heap
// is small, and back to 100 as it grows, spaces collections out at a
// bounded cost in memory: the goal is max(2 × live, floor).
func (f *gcFlags) run(ctx context.Context) {
	if f.minHeapMB <= 0 || os.Getenv("GOGC") != "" {
		return
	}
	floor := uint64(f.minHeapMB) << 20
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last := 100
	for {
		metrics.Read(sample)
		if sample[0].Value.Kind() == metrics.KindUint64 {
			pct := gcPercentFor(sample[0].Value.Uint64(), floor)
			if pct != last {
				debug.SetGCPercent(pct)
				last = pct
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// gcPercentFor returns the GOGC that puts the heap goal, live × (1 +
// GOGC/100), at the floor when the live heap is below half of it, rounded
// to tens so that small changes of the live heap leave it alone.
func gcPercentFor(live, floor uint64) int {
	if live == 0 || 2*live >= floor {
		return 100
	}
	pct := int(floor*100/live) - 100
	return min(pct/10*10, 5000)
}
