package tabletgw

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mosaicdb/mosaic/sqlerr"
)

// Buffering while a keyspace's primary traffic is switched to other
// shards (a reshard's cutover).
//
// topo.Server.BeginSwitch sets the keyspace's switching flag and fences
// the source shards' primaries in one step; SwitchServedShards moves the
// serving graph and clears the flag in another. While the gate's graph
// says the keyspace's PRIMARY traffic is switching, a statement of a
// primary session that is about to send a query to one of its shards
// waits here, before anything is sent, until the gate has the graph
// without the flag, then it is planned again against that graph and run
// (the keyspace's shards may be others now). A statement that waited past
// the window (--buffer-window, from when the gate saw the switch begin)
// fails with a retryable 1105, and once a switch has lasted longer than
// the window, statements fail at once until it ends; at most size
// statements wait per keyspace (--buffer-size). Statements inside a
// transaction that has already run on the keyspace are not held: they
// go on, on the sources, which let open transactions finish. Replica
// reads are never held: both graphs' replicas serve correct data.
//
// A statement that reached a source primary after its fence (planned just
// before the gate saw the flag) is refused there, retryably: instead of
// the shard's failover buffer it waits here too and is planned again,
// provided none of its queries ran. One whose other queries ran fails
// instead (running it again could apply them twice), as does one inside a
// transaction that ran on the keyspace.

// ErrSwitched says a statement stopped before any of its queries ran
// because a keyspace it uses switched its traffic: plan it again.
var ErrSwitched = &sqlerr.Error{Num: sqlerr.ERUnknown, State: "HY000", Message: "the keyspace's serving shards changed while the statement waited: run it again"}

// switchMetrics are the switch buffer's collectors.
type switchMetrics struct {
	requests *prometheus.CounterVec
	waiting  *prometheus.GaugeVec
	wait     prometheus.Histogram
}

func newSwitchMetrics(reg prometheus.Registerer) *switchMetrics {
	m := &switchMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mosaic_gate_switch_buffered_requests_total",
			Help: "Statements that waited for a keyspace's traffic switch, by keyspace and outcome (released, window_passed, buffer_full, canceled).",
		}, []string{"keyspace", "outcome"}),
		waiting: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mosaic_gate_switch_buffered_requests",
			Help: "Statements waiting now for a keyspace's traffic switch, by keyspace.",
		}, []string{"keyspace"}),
		wait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "mosaic_gate_switch_buffer_wait_seconds",
			Help:    "How long statements waited for a keyspace's traffic switch to end.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 12),
		}),
	}
	reg.MustRegister(m.requests, m.waiting, m.wait)
	return m
}

// switchBuffer holds the switch events of every keyspace and what the
// gate's graph says serves primary traffic.
type switchBuffer struct {
	window time.Duration
	size   int
	m      *switchMetrics

	mu     sync.Mutex
	events map[string]*switchEvent
	// primaries are the shards serving each keyspace's primary traffic in
	// the graph the router has.
	primaries map[string][]string
	// ended says when each keyspace's last switch ended.
	ended map[string]time.Time
	// changed is closed and replaced each time the gate installs a graph.
	changed chan struct{}
	// active counts events, so that the query path skips the lock when
	// no keyspace switches.
	active atomic.Int32
}

// switchEvent is one keyspace's switch as the gate sees it.
type switchEvent struct {
	deadline time.Time
	waiting  int
	// done is closed when the gate has the graph without the flag.
	done chan struct{}
}

func newSwitchBuffer(window time.Duration, size int, m *switchMetrics) *switchBuffer {
	return &switchBuffer{window: window, size: size, m: m, events: map[string]*switchEvent{},
		primaries: map[string][]string{}, ended: map[string]time.Time{}, changed: make(chan struct{})}
}

// installed records the graph the router now routes by: the primary
// shards of each keyspace and the keyspaces whose primary traffic is
// switching. A keyspace no longer switching releases its statements;
// call it after the router has the graph, so that they plan against it.
func (b *switchBuffer) installed(primaries map[string][]string, switching map[string]bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.primaries = primaries
	now := time.Now()
	for ks := range switching {
		if b.events[ks] == nil {
			b.events[ks] = &switchEvent{deadline: now.Add(b.window), done: make(chan struct{})}
			b.active.Add(1)
		}
	}
	for ks, ev := range b.events {
		if !switching[ks] {
			close(ev.done)
			delete(b.events, ks)
			b.active.Add(-1)
			b.ended[ks] = now
		}
	}
	for ks, at := range b.ended {
		if now.Sub(at) > b.window {
			delete(b.ended, ks)
		}
	}
	close(b.changed)
	b.changed = make(chan struct{})
}

// switching reports whether ks's primary traffic is being switched.
func (b *switchBuffer) switching(ks string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.events[ks] != nil
}

// graphChanged returns a channel closed when the gate next installs a
// graph.
func (b *switchBuffer) graphChanged() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.changed
}

// switchRefused reports whether a primary request for shard of ks that
// found no serving primary there should wait for ks's switch instead: a
// switch is under way (the shard's primary is fenced), or shard lost the
// keyspace's primary traffic in one that ended within the window (the
// statement was planned before).
func (b *switchBuffer) switchRefused(ks, shard string) bool {
	if b == nil || b.window <= 0 {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.events[ks] != nil {
		return true
	}
	if at, ok := b.ended[ks]; !ok || time.Since(at) > b.window {
		return false
	}
	return !slices.Contains(b.primaries[ks], shard)
}

// wait holds the caller while ks's primary traffic is switching. It
// returns false at once when it is not; true once the switch ended; or an
// error: the window passed, the buffer is full, or ctx ended.
func (b *switchBuffer) wait(ctx context.Context, ks string) (bool, error) {
	if b.window <= 0 || b.active.Load() == 0 {
		return false, nil
	}
	b.mu.Lock()
	ev := b.events[ks]
	if ev == nil {
		b.mu.Unlock()
		return false, nil
	}
	now := time.Now()
	if !now.Before(ev.deadline) {
		b.mu.Unlock()
		b.m.requests.WithLabelValues(ks, "window_passed").Inc()
		return false, switchWindowPassed(ks)
	}
	if ev.waiting >= b.size {
		b.mu.Unlock()
		b.m.requests.WithLabelValues(ks, "buffer_full").Inc()
		return false, sqlerr.NotServing("keyspace %s is switching its traffic and its buffer is full", ks)
	}
	ev.waiting++
	b.mu.Unlock()
	gauge := b.m.waiting.WithLabelValues(ks)
	gauge.Inc()
	defer func() {
		gauge.Dec()
		b.mu.Lock()
		ev.waiting--
		b.mu.Unlock()
		b.m.wait.Observe(time.Since(now).Seconds())
	}()
	t := time.NewTimer(time.Until(ev.deadline))
	defer t.Stop()
	select {
	case <-ev.done:
		b.m.requests.WithLabelValues(ks, "released").Inc()
		return true, nil
	case <-t.C:
		b.m.requests.WithLabelValues(ks, "window_passed").Inc()
		return false, switchWindowPassed(ks)
	case <-ctx.Done():
		b.m.requests.WithLabelValues(ks, "canceled").Inc()
		return false, sqlerr.FromError(ctx.Err())
	}
}

func switchWindowPassed(ks string) error {
	return sqlerr.NotServing("keyspace %s is switching its traffic: not done within the buffer window; try again", ks)
}

// InstalledGraph tells the gateway the serving graph the router now
// routes by: the primary shards of each keyspace and the keyspaces whose
// primary traffic is switching. A keyspace no longer switching releases
// the statements that wait for it; call it after the router has the
// graph, so that they plan against it.
func (g *Gateway) InstalledGraph(primaries map[string][]string, switching map[string]bool) {
	g.switches.installed(primaries, switching)
}

// Switching reports whether ks's primary traffic is being switched.
func (g *Gateway) Switching(ks string) bool { return g.switches.switching(ks) }

// SwitchUnderway reports whether any keyspace switches its primary
// traffic now: cheap, for the request path.
func (g *Gateway) SwitchUnderway() bool {
	return g.switches != nil && g.switches.active.Load() > 0
}

// AwaitSwitch holds the caller while ks's primary traffic is switching.
// It returns false at once when it is not; true once the switch ended
// (the caller plans its statement again); or an error: the window
// passed, the buffer is full, or ctx ended.
func (g *Gateway) AwaitSwitch(ctx context.Context, ks string) (bool, error) {
	if g.switches == nil {
		return false, nil
	}
	return g.switches.wait(ctx, ks)
}
