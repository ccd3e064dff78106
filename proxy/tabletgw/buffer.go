package tabletgw

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Buffering of primary requests while a shard changes primary.
//
// The gate learns that a shard's primary is going away from the health
// streams, not from a separate signal: a primary being demoted (planned
// reparent) or fenced says "not serving" in its stream before it stops
// taking writes, and refuses requests with a retryable error; a primary
// that dies breaks its stream (and its refused connections fail before a
// request leaves the gate, which is retryable too). A request for a
// shard's primary that finds no serving primary, or that its primary
// refused, starts the shard's buffering event (if none is running) and
// waits, instead of failing, until the health check shows a serving
// primary again (the new one, with its newer term) or until the event's
// window has passed since it started. At most size requests wait per
// shard; more fail at once. A window of zero turns buffering off: requests
// then wait up to the gateway's tablet wait, as replica requests do.

// bufferMetrics are the buffer's collectors.
type bufferMetrics struct {
	events   *prometheus.CounterVec
	requests *prometheus.CounterVec
	wait     prometheus.Histogram
}

func newBufferMetrics(reg prometheus.Registerer) *bufferMetrics {
	m := &bufferMetrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mosaic_gate_buffer_events_total",
			Help: "Times a shard's primary requests started to be buffered (its primary stopped serving), by keyspace and shard.",
		}, []string{"keyspace", "shard"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mosaic_gate_buffered_requests_total",
			Help: "Requests that waited in the failover buffer, by keyspace, shard and outcome (released, window_passed, buffer_full, canceled).",
		}, []string{"keyspace", "shard", "outcome"}),
		wait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "mosaic_gate_buffer_wait_seconds",
			Help:    "How long buffered requests waited for a serving primary.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 12),
		}),
	}
	reg.MustRegister(m.events, m.requests, m.wait)
	return m
}

// failoverBuffer holds the buffering events of every shard.
type failoverBuffer struct {
	window time.Duration
	size   int
	m      *bufferMetrics

	mu     sync.Mutex
	events map[shardKey]*bufferEvent
	// active counts events, so that the request path skips the lock when
	// nothing is buffered.
	active atomic.Int32
}

// bufferEvent is one shard's buffering: it lasts until a primary serves
// again; past its window, requests fail at once instead of waiting.
type bufferEvent struct {
	deadline time.Time
	waiting  int
}

func newFailoverBuffer(window time.Duration, size int, m *bufferMetrics) *failoverBuffer {
	return &failoverBuffer{window: window, size: size, m: m, events: map[shardKey]*bufferEvent{}}
}

// enabled reports whether primary requests are buffered at all.
func (b *failoverBuffer) enabled() bool { return b != nil && b.window > 0 }

// bufferSlot is one request waiting in a shard's buffer.
type bufferSlot struct {
	b        *failoverBuffer
	key      shardKey
	ev       *bufferEvent
	deadline time.Time
	start    time.Time
	done     bool
}

// enter makes a request wait in the shard's buffer, starting a buffering
// event if none runs. It returns nil when the buffer is full or the
// shard's current event has passed its window.
func (b *failoverBuffer) enter(key shardKey) *bufferSlot {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	ev := b.events[key]
	if ev == nil {
		ev = &bufferEvent{deadline: now.Add(b.window)}
		b.events[key] = ev
		b.active.Add(1)
		b.m.events.WithLabelValues(key.keyspace, key.shard).Inc()
	}
	if !now.Before(ev.deadline) {
		b.m.requests.WithLabelValues(key.keyspace, key.shard, "window_passed").Inc()
		return nil
	}
	if ev.waiting >= b.size {
		b.m.requests.WithLabelValues(key.keyspace, key.shard, "buffer_full").Inc()
		return nil
	}
	ev.waiting++
	return &bufferSlot{b: b, key: key, ev: ev, deadline: ev.deadline, start: now}
}

// leave ends the request's wait with outcome. A released request (a
// primary serves again) ends the shard's event: the next outage starts a
// new one with a fresh window.
func (s *bufferSlot) leave(outcome string) {
	if s == nil || s.done {
		return
	}
	s.done = true
	b := s.b
	b.m.requests.WithLabelValues(s.key.keyspace, s.key.shard, outcome).Inc()
	b.m.wait.Observe(time.Since(s.start).Seconds())
	b.mu.Lock()
	defer b.mu.Unlock()
	s.ev.waiting--
	if outcome == "released" {
		b.dropLocked(s.key, s.ev)
	}
}

// endEvent ends a shard's buffering event, if one runs and nobody waits
// in it: its primary serves. Cheap when nothing is buffered.
func (b *failoverBuffer) endEvent(key shardKey) {
	if b == nil || b.active.Load() == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if ev := b.events[key]; ev != nil && ev.waiting <= 0 {
		b.dropLocked(key, ev)
	}
}

func (b *failoverBuffer) dropLocked(key shardKey, ev *bufferEvent) {
	if b.events[key] == ev {
		delete(b.events, key)
		b.active.Add(-1)
	}
}

// shardKey names one shard of a keyspace.
type shardKey struct{ keyspace, shard string }
