package recovered

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func explode() { panic("boom") }

func TestCatch(t *testing.T) {
	if p := Catch(func() {}); p != nil {
		t.Fatalf("Catch of a function that returned: %v", p)
	}
	p := Catch(explode)
	if p == nil || p.Value != "boom" {
		t.Fatalf("Catch = %v", p)
	}
	// The stack is where it happened, not where it was caught.
	if !strings.Contains(string(p.Stack), "recovered.explode") {
		t.Fatalf("stack does not show the panicking function:\n%s", p.Stack)
	}
	// Raised again and caught again, it keeps its first stack.
	again := Catch(func() { Raise(p) })
	if again != p {
		t.Fatalf("raised again: got %v, want the same *Panic", again)
	}
}

func TestGroupRaisesOnWait(t *testing.T) {
	g, ctx := WithContext(context.Background())
	done := make(chan struct{})
	g.Go(func() error {
		<-ctx.Done() // canceled by the panic below
		close(done)
		return ctx.Err()
	})
	g.Go(func() error { explode(); return nil })
	p := Catch(func() { g.Wait() })
	if p == nil || p.Value != "boom" || !strings.Contains(string(p.Stack), "recovered.explode") {
		t.Fatalf("Wait raised %v", p)
	}
	select {
	case <-done:
	default:
		t.Fatal("Wait returned before every function had")
	}
}

func TestGroupError(t *testing.T) {
	g, _ := WithContext(context.Background())
	want := errors.New("no")
	g.Go(func() error { return want })
	g.Go(func() error { return nil })
	if err := g.Wait(); !errors.Is(err, want) {
		t.Fatalf("Wait = %v", err)
	}
}
