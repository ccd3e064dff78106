package topo

import (
	"context"
	"time"
)

// Follower says how Follow retries a watch that could not be opened:
// after First, doubling up to Max. Failed, when set, hears each error.
type Follower struct {
	First, Max time.Duration
	Failed     func(error)
}

// DefaultFollower retries after 200 ms, doubling up to 5 s.
var DefaultFollower = Follower{First: 200 * time.Millisecond, Max: 5 * time.Second}

// Follow keeps a watch open until ctx ends: open starts one and returns
// its first state and its events; onStart takes the state, and onEvent
// each event until it returns false (an error event: the watch is over)
// or the channel closes; then a new watch is opened. A watch that cannot
// be opened is retried after a backoff, which starts over once one opens.
// Every watch loop of the topology's readers is this one.
func Follow[S, E any](ctx context.Context, f Follower, open func(context.Context) (S, <-chan E, error), onStart func(S), onEvent func(E) bool) {
	if f.First <= 0 {
		f.First = DefaultFollower.First
	}
	if f.Max < f.First {
		f.Max = max(f.First, DefaultFollower.Max)
	}
	backoff := f.First
	for ctx.Err() == nil {
		state, events, err := open(ctx)
		if err != nil {
			if f.Failed != nil && ctx.Err() == nil {
				f.Failed(err)
			}
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return
			}
			backoff = min(2*backoff, f.Max)
			continue
		}
		backoff = f.First
		onStart(state)
		for ev := range events {
			if !onEvent(ev) {
				break
			}
		}
	}
}
