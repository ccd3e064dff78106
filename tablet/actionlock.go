package tablet

import "context"

// actionLock serializes the actions that change the tablet's role. Unlike
// a sync.Mutex, a waiter can give up when its context ends: an RPC whose
// caller went away, or a loop of a stopping agent, does not wait behind a
// long action (a repair copying a data dir) and then run late.
type actionLock chan struct{}

func newActionLock() actionLock { return make(actionLock, 1) }

// lock takes the lock, or returns ctx's error once ctx ends first.
func (l actionLock) lock(ctx context.Context) error {
	select {
	case l <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// tryLock takes the lock if it is free now.
func (l actionLock) tryLock() bool {
	select {
	case l <- struct{}{}:
		return true
	default:
		return false
	}
}

// unlock releases the lock; the caller holds it.
func (l actionLock) unlock() { <-l }
