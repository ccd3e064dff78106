package tabletgw

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mosaicdb/mosaic/sqlerr"
)

// One buffer holds the primary requests that wait for a change to end,
// for two causes (eventKind): a shard changing its primary (the gateway's
// retryPrimary) and a keyspace switching its primary traffic to other
// shards (switchbuffer.go). Both run the same way: a buffering event per shard
// or keyspace, with a deadline one window after it began and at most size
// requests waiting in it; a request that would wait past the deadline, or
// beyond the size, fails at once, retryably. They differ in what starts
// and ends an event: a failover event starts with the first request that
// finds no serving primary and ends when one serves again; a switch event
// follows the serving graph's switching flag. A window of zero turns
// buffering off: requests then wait up to the gateway's tablet wait, as
// replica requests do.
//
// Failover. The gate learns that a shard's primary is going away from the
// health streams, not from a separate signal: a primary being demoted
// (planned reparent) or fenced says "not serving" in its stream before it
// stops taking writes, and refuses requests with a retryable error; a
// primary that dies breaks its stream (and its refused connections fail
// before a request leaves the gate, which is retryable too). A request
// for a shard's primary that finds no serving primary, or that its
// primary refused, starts the shard's buffering event (if none is
// running) and waits, instead of failing, until the health check shows a
// serving primary again (the new one, with its newer term) or until the
// event's window has passed since it started.

// eventKind is why requests wait.
type eventKind int

const (
	// failover: the shard has no serving primary (a reparent, a crash).
	failover eventKind = iota
	// trafficSwitch: the keyspace's primary traffic moves to other
	// shards (a reshard's cutover).
	trafficSwitch
	numKinds
)

// Outcomes of a buffered request, the outcome label of the metrics.
const (
	outcomeReleased     = "released"
	outcomeWindowPassed = "window_passed"
	outcomeBufferFull   = "buffer_full"
	outcomeCanceled     = "canceled"
)

// eventKey names one buffering event: a shard for a failover, a keyspace
// (shard "") for a traffic switch.
type eventKey struct {
	kind     eventKind
	keyspace string
	shard    string
}

// labels are the key's metric labels: keyspace and shard for a failover,
// keyspace for a switch.
func (k eventKey) labels(more ...string) []string {
	if k.kind == failover {
		return append([]string{k.keyspace, k.shard}, more...)
	}
	return append([]string{k.keyspace}, more...)
}

// bufferEvent is one buffering event: it lasts until its cause ends; past
// its deadline, requests fail at once instead of waiting.
type bufferEvent struct {
	deadline time.Time
	waiting  int
	// done is closed when the event ends.
	done chan struct{}
}

// buffer holds the buffering events of every shard and keyspace.
type buffer struct {
	window time.Duration
	size   int
	m      *bufferMetrics

	mu     sync.Mutex
	events map[eventKey]*bufferEvent
	// active counts events of each kind, so that the request path skips
	// the lock when nothing of that kind is buffered.
	active [numKinds]atomic.Int32

	// What the switch events need besides (switchbuffer.go), under mu.
	switchState
}

func newBuffer(window time.Duration, size int, m *bufferMetrics) *buffer {
	return &buffer{window: window, size: size, m: m, events: map[eventKey]*bufferEvent{},
		switchState: newSwitchState()}
}

// enabled reports whether requests are buffered at all.
func (b *buffer) enabled() bool { return b != nil && b.window > 0 }

// underway reports, without locking, whether an event of kind runs.
func (b *buffer) underway(kind eventKind) bool {
	return b != nil && b.active[kind].Load() > 0
}

// beginLocked starts key's event, deadline one window from now, unless
// one runs. b.mu is held.
func (b *buffer) beginLocked(key eventKey, now time.Time) *bufferEvent {
	if ev := b.events[key]; ev != nil {
		return ev
	}
	ev := &bufferEvent{deadline: now.Add(b.window), done: make(chan struct{})}
	b.events[key] = ev
	b.active[key.kind].Add(1)
	b.m.of(key.kind).events.WithLabelValues(key.labels()...).Inc()
	return ev
}

// endLocked ends key's event ev, releasing whoever waits on its done
// channel, when it is still key's event. b.mu is held.
func (b *buffer) endLocked(key eventKey, ev *bufferEvent) {
	if b.events[key] == ev {
		close(ev.done)
		delete(b.events, key)
		b.active[key.kind].Add(-1)
	}
}

// bufferSlot is one request waiting in an event.
type bufferSlot struct {
	b        *buffer
	key      eventKey
	ev       *bufferEvent
	deadline time.Time
	start    time.Time
	done     bool
}

// enter makes a request wait in key's event; a failover event starts if
// none runs, a switch event must run already. It returns nil and the
// outcome counted when the request may not wait: no event (outcome ""),
// the event passed its window, or it is full.
func (b *buffer) enter(key eventKey) (*bufferSlot, string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	ev := b.events[key]
	if ev == nil {
		if key.kind != failover {
			return nil, ""
		}
		ev = b.beginLocked(key, now)
	}
	m := b.m.of(key.kind)
	if !now.Before(ev.deadline) {
		m.requests.WithLabelValues(key.labels(outcomeWindowPassed)...).Inc()
		return nil, outcomeWindowPassed
	}
	if ev.waiting >= b.size {
		m.requests.WithLabelValues(key.labels(outcomeBufferFull)...).Inc()
		return nil, outcomeBufferFull
	}
	ev.waiting++
	m.waiting.WithLabelValues(key.labels()...).Inc()
	return &bufferSlot{b: b, key: key, ev: ev, deadline: ev.deadline, start: now}, ""
}

// wait blocks until the slot's event ends (true), its deadline passes
// (false) or ctx ends (its error). It does not leave the slot.
func (s *bufferSlot) wait(ctx context.Context) (bool, error) {
	t := time.NewTimer(time.Until(s.deadline))
	defer t.Stop()
	select {
	case <-s.ev.done:
		return true, nil
	case <-t.C:
		return false, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// leave ends the request's wait with outcome. A released failover request
// (a primary serves again) ends the shard's event: the next outage
// starts a new one with a fresh window.
func (s *bufferSlot) leave(outcome string) {
	if s == nil || s.done {
		return
	}
	s.done = true
	b := s.b
	m := b.m.of(s.key.kind)
	m.requests.WithLabelValues(s.key.labels(outcome)...).Inc()
	m.waiting.WithLabelValues(s.key.labels()...).Dec()
	m.wait.Observe(time.Since(s.start).Seconds())
	b.mu.Lock()
	defer b.mu.Unlock()
	s.ev.waiting--
	if outcome == outcomeReleased && s.key.kind == failover {
		b.endLocked(s.key, s.ev)
	}
}

// endFailover ends a shard's failover event, if one runs and nobody waits
// in it: its primary serves. Cheap when nothing is buffered.
func (b *buffer) endFailover(keyspace, shard string) {
	if !b.underway(failover) {
		return
	}
	key := eventKey{failover, keyspace, shard}
	b.mu.Lock()
	defer b.mu.Unlock()
	if ev := b.events[key]; ev != nil && ev.waiting <= 0 {
		b.endLocked(key, ev)
	}
}

// windowPassed is the error of a request that could not wait for key's
// event to end within the window.
func windowPassed(key eventKey) error {
	if key.kind == failover {
		return sqlerr.NotServing("no serving primary for %s/%s within the buffer window", key.keyspace, key.shard)
	}
	return sqlerr.NotServing("keyspace %s is switching its traffic: not done within the buffer window; try again", key.keyspace)
}
