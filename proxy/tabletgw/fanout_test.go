package tabletgw

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/recovered"
)

func TestFanoutParallel(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	f := NewFanout()
	var stopped sync.WaitGroup
	stopped.Add(1)
	go func() { defer stopped.Done(); f.Run(ctx, 2) }()

	// Every call runs, at once: each waits until all have started.
	const n = 5
	var started sync.WaitGroup
	started.Add(n)
	var ran [n]atomic.Bool
	err := f.Parallel(t.Context(), n, func(ctx context.Context, i int) error {
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
	err = f.Parallel(t.Context(), 3, func(ctx context.Context, i int) error {
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
	if err := f.Parallel(t.Context(), 0, nil); err != nil {
		t.Fatal(err)
	}
	var nilFan *Fanout
	var calls atomic.Int32
	if err := nilFan.Parallel(t.Context(), 3, func(context.Context, int) error { calls.Add(1); return nil }); err != nil || calls.Load() != 3 {
		t.Fatalf("nil fanout: %v, %d calls", err, calls.Load())
	}

	// The workers stop with their context.
	cancel()
	stopped.Wait()
}

// A call that panics on a worker does not end the process: parallel
// cancels the other calls, waits for them and raises the panic again on
// the calling goroutine, with the worker's stack.
func TestFanoutParallelPanic(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	f := NewFanout()
	var stopped sync.WaitGroup
	stopped.Add(1)
	go func() { defer stopped.Done(); f.Run(ctx, 2) }()
	defer func() { cancel(); stopped.Wait() }()

	for _, which := range []int{0, 2} { // on a worker; on the caller
		var returned atomic.Int32
		p := recovered.Catch(func() {
			f.Parallel(t.Context(), 3, func(ctx context.Context, i int) error {
				if i == which {
					panicInShardCall()
				}
				<-ctx.Done()
				returned.Add(1)
				return ctx.Err()
			})
		})
		if p == nil || p.Value != "shard call failed" {
			t.Fatalf("call %d panicked: parallel raised %v", which, p)
		}
		if !strings.Contains(string(p.Stack), "panicInShardCall") {
			t.Errorf("the raised panic lost the stack where it happened:\n%s", p.Stack)
		}
		if n := returned.Load(); n != 2 {
			t.Fatalf("parallel raised the panic before the other calls returned (%d of 2)", n)
		}
	}
}

func panicInShardCall() { panic("shard call failed") }

// all, whose calls never stop one another, runs every call to its end
// even when one panics, then raises the panic on the calling goroutine.
func TestFanoutAllPanic(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	f := NewFanout()
	var stopped sync.WaitGroup
	stopped.Add(1)
	go func() { defer stopped.Done(); f.Run(ctx, 2) }()
	defer func() { cancel(); stopped.Wait() }()

	var returned atomic.Int32
	p := recovered.Catch(func() {
		f.All(t.Context(), 3, func(ctx context.Context, i int) {
			if i == 0 {
				panicInShardCall()
			}
			returned.Add(1)
		})
	})
	if p == nil || p.Value != "shard call failed" || !strings.Contains(string(p.Stack), "panicInShardCall") {
		t.Fatalf("all raised %v", p)
	}
	if n := returned.Load(); n != 2 {
		t.Fatalf("%d of the other 2 calls ran to their end", n)
	}
}
