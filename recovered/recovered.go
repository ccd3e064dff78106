package recovered

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"

	"golang.org/x/sync/errgroup"
)

// Panic is a recovered panic: its value and the stack of the goroutine
// that panicked.
type Panic struct {
	Value any
	Stack []byte
}

// Error makes a Panic an error, so that it can travel where errors do
// (an errgroup's function) before it is raised again.
func (p *Panic) Error() string { return fmt.Sprintf("panic: %v", p.Value) }

// New returns the recovered value x as a Panic: x itself when it is one
// (raised again by Raise), else with the current stack. Call it in the
// deferred function that recovered x, where the stack still holds the
// frames that panicked.
func New(x any) *Panic {
	if p, ok := x.(*Panic); ok {
		return p
	}
	return &Panic{Value: x, Stack: debug.Stack()}
}

// Catch calls fn and returns the panic it raised, nil if it returned.
func Catch(fn func()) (p *Panic) {
	defer func() {
		if x := recover(); x != nil {
			p = New(x)
		}
	}()
	fn()
	return nil
}

// Raise panics with p unless p is nil.
func Raise(p *Panic) {
	if p != nil {
		panic(p)
	}
}

// Group is an errgroup.Group whose functions may panic: a panic cancels
// the group's context like an error, and Wait raises it again on the
// waiting goroutine once every function has returned.
type Group struct {
	eg    *errgroup.Group
	mu    sync.Mutex
	first *Panic
}

// WithContext returns a Group and the context its functions get, which is
// canceled when one of them fails or panics.
func WithContext(ctx context.Context) (*Group, context.Context) {
	eg, ctx := errgroup.WithContext(ctx)
	return &Group{eg: eg}, ctx
}

// Go runs fn on a new goroutine.
func (g *Group) Go(fn func() error) {
	g.eg.Go(func() error {
		var err error
		if p := Catch(func() { err = fn() }); p != nil {
			g.mu.Lock()
			if g.first == nil {
				g.first = p
			}
			g.mu.Unlock()
			return p
		}
		return err
	})
}

// Wait waits for every function, then raises the first panic among them,
// or returns the first error.
func (g *Group) Wait() error {
	err := g.eg.Wait()
	g.mu.Lock()
	p := g.first
	g.mu.Unlock()
	Raise(p)
	return err
}
