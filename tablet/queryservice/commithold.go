package queryservice

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mosaicdb/mosaic/sqlerr"
)

// A commit hold keeps the commit phase of distributed transactions from
// running for an instant: StartCommit (the decision, with the coordinator
// shard's own writes), CommitPrepared and ConcludeTransaction wait while
// it holds. Everything else runs, single-shard commits and XA PREPARE
// included. A keyspace restore point holds every primary of the keyspace,
// reads every primary's position while all hold, then lifts the holds:
// a transaction is then either decided before every position (its
// branches are all prepared in them, and the restored decision record
// commits the ones not yet committed) or decided after every position
// (its branches are at most prepared, with no decision: rolled back).
// ConcludeTransaction waits too, so that a decision record is never gone
// from a position while a branch it decided is only prepared in another.
//
// A hold lifts when its taker says so or, should the taker die, after
// its time to live.
type commitHold struct {
	mu      sync.Mutex
	id      string        // the hold in force, "" when none
	until   time.Time     // when it lifts by itself
	lifted  chan struct{} // closed when it lifts
	running int           // commit-phase calls running
	drained chan struct{} // closed when running reaches 0 under a hold
}

// ErrCommitsHeld says another restore point holds the commits: try
// again in a moment.
var ErrCommitsHeld = errors.New("distributed commits are held by another restore point")

// enter waits while a hold is in force, then counts a commit-phase call
// as running until leave is called.
func (h *commitHold) enter(ctx context.Context) (leave func(), err error) {
	for {
		h.mu.Lock()
		if h.id == "" || !time.Now().Before(h.until) {
			h.running++
			h.mu.Unlock()
			return h.leave, nil
		}
		lifted, wait := h.lifted, time.Until(h.until)
		h.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-lifted:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("waiting for a restore point's commit hold: %w", ctx.Err())
		}
		t.Stop()
	}
}

func (h *commitHold) leave() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.running--
	if h.running == 0 && h.drained != nil {
		close(h.drained)
		h.drained = nil
	}
}

// take puts hold id in force for ttl and returns once no commit-phase
// call runs. Another hold in force is an error; ctx ending lifts it.
func (h *commitHold) take(ctx context.Context, id string, ttl time.Duration) (time.Duration, error) {
	start := time.Now()
	h.mu.Lock()
	if h.id != "" && h.id != id && start.Before(h.until) {
		other := h.id
		h.mu.Unlock()
		return 0, fmt.Errorf("%w: by %s", ErrCommitsHeld, other)
	}
	if h.id != "" && h.lifted != nil {
		close(h.lifted)
	}
	h.id, h.until, h.lifted = id, start.Add(ttl), make(chan struct{})
	var drained chan struct{}
	if h.running > 0 {
		if h.drained == nil {
			h.drained = make(chan struct{})
		}
		drained = h.drained
	}
	h.mu.Unlock()
	if drained != nil {
		select {
		case <-drained:
		case <-ctx.Done():
			h.release(id)
			return 0, fmt.Errorf("waiting for distributed commits to finish: %w", ctx.Err())
		}
	}
	return time.Since(start), nil
}

// inForce reports whether hold id holds now.
func (h *commitHold) inForce(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.id == id && time.Now().Before(h.until)
}

// release lifts hold id; it reports whether the hold was still in force.
func (h *commitHold) release(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.id != id {
		return false
	}
	held := time.Now().Before(h.until)
	h.id = ""
	close(h.lifted)
	h.lifted = nil
	return held
}

// HoldCommits puts a restore point's hold on the commit phase of
// distributed transactions (see commitHold) and returns once the calls
// already running are done: how long that took.
func (s *Service) HoldCommits(ctx context.Context, id string, ttl time.Duration) (time.Duration, error) {
	if id == "" || ttl <= 0 {
		return 0, sqlerr.New(sqlerr.ERUnknown, "a commit hold needs an id and a time to live")
	}
	return s.commitHold.take(ctx, id, ttl)
}

// CommitsHeld reports whether hold id is in force.
func (s *Service) CommitsHeld(id string) bool { return s.commitHold.inForce(id) }

// ReleaseCommits lifts hold id and reports whether it was still in force.
func (s *Service) ReleaseCommits(id string) bool { return s.commitHold.release(id) }
