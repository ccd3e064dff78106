package topo_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/topo"
)

// TestFollow pins the watch loop every topology reader uses: failures to
// open are retried with a doubling backoff that a successful open resets,
// each watch's first state and events are handed on, an event that says
// the watch is over opens the next one, and it stops with its context.
func TestFollow(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var log []string
	var opens []time.Time
	fails := 0
	open := func(context.Context) (string, <-chan int, error) {
		opens = append(opens, time.Now())
		switch len(opens) {
		case 1, 2, 3:
			return "", nil, errors.New("no watch")
		case 4, 5:
			ch := make(chan int, 3)
			ch <- 1
			ch <- -1 // the watch is over
			ch <- 2  // never read
			return "state", ch, nil
		}
		cancel()
		return "", nil, errors.New("cancelled")
	}
	topo.Follow(ctx, topo.Follower{First: 10 * time.Millisecond, Max: 25 * time.Millisecond, Failed: func(error) { fails++ }},
		open,
		func(s string) { log = append(log, s) },
		func(ev int) bool {
			if ev < 0 {
				return false
			}
			log = append(log, "event")
			return true
		})
	if got, want := len(opens), 6; got != want {
		t.Fatalf("opened %d watches, want %d", got, want)
	}
	if fails != 3 {
		t.Errorf("failures heard %d, want 3 (not the one after cancel)", fails)
	}
	// Backoffs: 10ms, 20ms, then capped at 25ms... but the third failure
	// is followed by a successful open.
	gaps := []time.Duration{opens[1].Sub(opens[0]), opens[2].Sub(opens[1]), opens[3].Sub(opens[2])}
	for i, want := range []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 25 * time.Millisecond} {
		if gaps[i] < want {
			t.Errorf("retry %d after %v, want at least %v", i+1, gaps[i], want)
		}
	}
	if got := opens[4].Sub(opens[3]); got > 5*time.Millisecond {
		t.Errorf("a watch that ended was reopened after %v, want at once", got)
	}
	if got, want := strings.Join(log, " "), "state event state event"; got != want {
		t.Errorf("handed on %q, want %q", got, want)
	}
}
