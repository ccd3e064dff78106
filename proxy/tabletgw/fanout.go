package tabletgw

import (
	"context"
	"sync"

	"github.com/mosaicdb/mosaic/recovered"
)

// Fanout runs the per-shard calls of statements that reach several shards
// on long-lived goroutines. A fresh goroutine starts with a small stack
// and grows it, copying it each time, as the call descends through gRPC
// and protobuf: on a sharded read-write load that copying was 7 % of the
// gate's CPU. A worker's stack has grown already.
type Fanout struct {
	work chan func()
}

// NewFanout returns a Fanout without workers: Run starts them, and until
// then every call gets a goroutine of its own.
func NewFanout() *Fanout { return &Fanout{work: make(chan func())} }

// Run keeps workers goroutines waiting for calls until ctx ends.
func (f *Fanout) Run(ctx context.Context, workers int) {
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case fn := <-f.work:
					fn()
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	wg.Wait()
}

// Go runs fn on an idle worker, or on a new goroutine when none is
// idle (or f is nil, or its workers have stopped). fn must not panic: a
// panic there ends the process. Callers catch their functions' panics
// (recovered.Catch) and raise them again where they wait.
func (f *Fanout) Go(fn func()) {
	if f != nil {
		select {
		case f.work <- fn:
			return
		default:
		}
	}
	go fn()
}

// Parallel calls fn(ctx, i) for every i < n at once: the last on the
// calling goroutine, the others through Go. The first error cancels
// the ctx the others got; Parallel returns it once every call has
// returned. A call that panics cancels the others too, and once every call
// has returned Parallel raises that panic again on the calling goroutine
// (with the stack where it happened), whose owner recovers it.
func (f *Fanout) Parallel(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	if n == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
		mu    sync.Mutex
		boom  *recovered.Panic
	)
	call := func(i int) {
		var err error
		if p := recovered.Catch(func() { err = fn(ctx, i) }); p != nil {
			mu.Lock()
			if boom == nil {
				boom = p
			}
			mu.Unlock()
			err = p
		}
		if err != nil {
			once.Do(func() {
				first = err
				cancel()
			})
		}
	}
	wg.Add(n - 1)
	for i := range n - 1 {
		f.Go(func() {
			defer wg.Done()
			call(i)
		})
	}
	call(n - 1)
	wg.Wait()
	recovered.Raise(boom)
	return first
}

// All calls fn(ctx, i) for every i < n at once, like Parallel, but an
// error of one call never stops another: each runs to its end and says
// how it ended. Calls inside a transaction use it: cancelling one would
// make its tablet kill the statement and drop its shard's transaction,
// and the gate must know how the statement ended on every shard. A call
// that panics stops no other either; once every call has returned, All
// raises the first panic again on the calling goroutine.
func (f *Fanout) All(ctx context.Context, n int, fn func(ctx context.Context, i int)) {
	if n == 0 {
		return
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		boom *recovered.Panic
	)
	call := func(i int) {
		if p := recovered.Catch(func() { fn(ctx, i) }); p != nil {
			mu.Lock()
			if boom == nil {
				boom = p
			}
			mu.Unlock()
		}
	}
	wg.Add(n - 1)
	for i := range n - 1 {
		f.Go(func() {
			defer wg.Done()
			call(i)
		})
	}
	call(n - 1)
	wg.Wait()
	recovered.Raise(boom)
}
