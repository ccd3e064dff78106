// Package recovered carries a panic from the goroutine it happened on to
// the goroutine that owns the work, with the stack where it happened.
//
// A panic that nobody recovers ends the process: in the gate, one bad
// client packet would drop every client's session. The goroutine serving
// a connection recovers what happens on it; work it hands to other
// goroutines (a statement's per-shard calls, a merge's streams) must not
// panic where nobody recovers, so those goroutines Catch the panic and
// their owner raises it again once it has waited for them all. The
// owner's recover then sees a *Panic whose Stack is the original one.
//
// This package only moves panics; it neither logs nor counts them (the
// owner does, once), and it does not turn them into errors a caller could
// mistake for an ordinary failure.
package recovered
