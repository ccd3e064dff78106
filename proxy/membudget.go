package proxy

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mosaicdb/mosaic/sqlerr"
)

// memBudget is the memory the gate lets its statements in flight take,
// all connections together: the packets being received and run past the
// first 64 KiB of each (every buffer a packet grows through, since the
// outgrown ones are garbage until collected), prepared statements' long
// data until their
// execution, and the parser's work on big statements (charged by the
// router, see router.MemoryBudget). Past it new work is refused with
// error 1041 instead of growing the process until the kernel kills it;
// what is already running goes on. It never waits: a refused client may
// try again.
type memBudget struct {
	limit int64 // 0: no limit
	used  atomic.Int64
	// refused counts refusals.
	refused prometheus.Counter
}

func newMemBudget(limit int64, reg prometheus.Registerer) *memBudget {
	b := &memBudget{limit: limit}
	b.refused = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "mosaic_gate_memory_refused_total",
		Help: "Statements and packets refused (error 1041) because the gate's memory budget for statements in flight was spent.",
	})
	used := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mosaic_gate_memory_in_flight_bytes",
		Help: "Memory charged to the gate's budget for statements in flight (--max-memory-in-flight).",
	}, func() float64 { return float64(b.used.Load()) })
	reg.MustRegister(b.refused, used)
	return b
}

// Acquire takes n bytes of the budget, or returns error 1041 and takes
// nothing.
func (b *memBudget) Acquire(n int64) error {
	if b.used.Add(n) > b.limit && b.limit > 0 && n > 0 {
		b.used.Add(-n)
		b.refused.Inc()
		return sqlerr.New(sqlerr.EROutOfResources,
			"Out of memory: the statements in flight on this gate would need more than its budget of %d bytes (--max-memory-in-flight); try again later", b.limit)
	}
	return nil
}

// Release gives back n bytes taken by Acquire.
func (b *memBudget) Release(n int64) { b.used.Add(-n) }
