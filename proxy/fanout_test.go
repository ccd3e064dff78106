package proxy

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestFanoutParallel(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	f := newFanout()
	var stopped sync.WaitGroup
	stopped.Add(1)
	go func() { defer stopped.Done(); f.run(ctx, 2) }()

	// Every call runs, at once: each waits until all have started.
	const n = 5
	var started sync.WaitGroup
	started.Add(n)
	var ran [n]atomic.Bool
	err := f.parallel(t.Context(), n, func(ctx context.Context, i int) error {
		started.Done()
		started.Wait()
		ran[i].Store(true)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range ran {
		if !ran[i].Load() {
			t.Fatalf("call %d did not run", i)
		}
	}

	// The first error cancels the others' context and is returned after
	// they have all returned.
	boom := errors.New("boom")
	var returned atomic.Int32
	err = f.parallel(t.Context(), 3, func(ctx context.Context, i int) error {
		defer returned.Add(1)
		if i == 1 {
			return boom
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(30 * time.Second):
			return errors.New("not cancelled")
		}
	})
	if !errors.Is(err, boom) || returned.Load() != 3 {
		t.Fatalf("error %v after %d of 3 calls returned", err, returned.Load())
	}

	// No calls, one call, and a nil fanout (no workers) all work.
	if err := f.parallel(t.Context(), 0, nil); err != nil {
		t.Fatal(err)
	}
	var nilFan *fanout
	var calls atomic.Int32
	if err := nilFan.parallel(t.Context(), 3, func(context.Context, int) error { calls.Add(1); return nil }); err != nil || calls.Load() != 3 {
		t.Fatalf("nil fanout: %v, %d calls", err, calls.Load())
	}

	// The workers stop with their context.
	cancel()
	stopped.Wait()
}
