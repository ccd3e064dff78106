package tabletgw

import (
	"context"
	"slices"
	"time"

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

// switchState is what the buffer keeps for traffic switches besides
// their events, under the buffer's lock.
type switchState struct {
	// primaries are the shards serving each keyspace's primary traffic in
	// the graph the router has.
	primaries map[string][]string
	// ended says when each keyspace's last switch ended.
	ended map[string]time.Time
	// changed is closed and replaced each time the gate installs a graph.
	changed chan struct{}
}

func newSwitchState() switchState {
	return switchState{primaries: map[string][]string{}, ended: map[string]time.Time{}, changed: make(chan struct{})}
}

func switchKey(ks string) eventKey { return eventKey{kind: trafficSwitch, keyspace: ks} }

// installed records the graph the router now routes by: the primary
// shards of each keyspace and the keyspaces whose primary traffic is
// switching. A keyspace no longer switching releases its statements;
// call it after the router has the graph, so that they plan against it.
func (b *buffer) installed(primaries map[string][]string, switching map[string]bool) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.primaries = primaries
	now := time.Now()
	for ks := range switching {
		b.beginLocked(switchKey(ks), now)
	}
	for key, ev := range b.events {
		if key.kind == trafficSwitch && !switching[key.keyspace] {
			b.endLocked(key, ev)
			b.ended[key.keyspace] = now
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
func (b *buffer) switching(ks string) bool {
	if b == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.events[switchKey(ks)] != nil
}

// graphChanged returns a channel closed when the gate next installs a
// graph, or nil without buffering.
func (b *buffer) graphChanged() <-chan struct{} {
	if !b.enabled() {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.changed
}

// switchRefused reports whether a primary request for shard of ks that
// found no serving primary there should wait for ks's switch instead: a
// switch is under way (the shard's primary is fenced), or shard lost the
// keyspace's primary traffic in one that ended within the window (the
// statement was planned before).
func (b *buffer) switchRefused(ks, shard string) bool {
	if !b.enabled() {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.events[switchKey(ks)] != nil {
		return true
	}
	if at, ok := b.ended[ks]; !ok || time.Since(at) > b.window {
		return false
	}
	return !slices.Contains(b.primaries[ks], shard)
}

// awaitSwitch holds the caller while ks's primary traffic is switching.
// It returns false at once when it is not; true once the switch ended; or
// an error: the window passed, the buffer is full, or ctx ended.
func (b *buffer) awaitSwitch(ctx context.Context, ks string) (bool, error) {
	if !b.enabled() || !b.underway(trafficSwitch) {
		return false, nil
	}
	key := switchKey(ks)
	slot, refused := b.enter(key)
	switch refused {
	case outcomeWindowPassed:
		return false, windowPassed(key)
	case outcomeBufferFull:
		return false, sqlerr.NotServing("keyspace %s is switching its traffic and its buffer is full", ks)
	}
	if slot == nil {
		return false, nil
	}
	ended, err := slot.wait(ctx)
	switch {
	case err != nil:
		slot.leave(outcomeCanceled)
		return false, sqlerr.FromError(err)
	case !ended:
		slot.leave(outcomeWindowPassed)
		return false, windowPassed(key)
	}
	slot.leave(outcomeReleased)
	return true, nil
}

// InstalledGraph tells the gateway the serving graph the router now
// routes by: the primary shards of each keyspace and the keyspaces whose
// primary traffic is switching. A keyspace no longer switching releases
// the statements that wait for it; call it after the router has the
// graph, so that they plan against it.
func (g *Gateway) InstalledGraph(primaries map[string][]string, switching map[string]bool) {
	g.buf.installed(primaries, switching)
}

// Switching reports whether ks's primary traffic is being switched.
func (g *Gateway) Switching(ks string) bool { return g.buf.switching(ks) }

// SwitchUnderway reports whether any keyspace switches its primary
// traffic now: cheap, for the request path.
func (g *Gateway) SwitchUnderway() bool {
	return g.buf.underway(trafficSwitch)
}

// AwaitSwitch holds the caller while ks's primary traffic is switching.
// It returns false at once when it is not; true once the switch ended
// (the caller plans its statement again); or an error: the window
// passed, the buffer is full, or ctx ended.
func (g *Gateway) AwaitSwitch(ctx context.Context, ks string) (bool, error) {
	return g.buf.awaitSwitch(ctx, ks)
}
