package queryservice

import (
	"context"
	"testing"
	"time"
)

// TestCommitHold pins the hold a restore point takes on a primary's
// distributed commits: calls wait while it holds and run once it lifts;
// taking it waits for the calls already running; it lifts by itself after
// its time to live and then says so; a second hold is refused.
func TestCommitHold(t *testing.T) {
	ctx := t.Context()
	var h commitHold

	// A call running when the hold is taken delays the take until done.
	leave, err := h.enter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	took := make(chan time.Duration, 1)
	go func() {
		d, err := h.take(ctx, "a", time.Minute)
		if err != nil {
			t.Error(err)
		}
		took <- d
	}()
	select {
	case <-took:
		t.Fatal("the hold was taken while a commit ran")
	case <-time.After(50 * time.Millisecond):
	}
	leave()
	select {
	case d := <-took:
		if d < 40*time.Millisecond {
			t.Errorf("the take says it waited %v for the running commit, want about 50ms", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the hold was not taken once the running commit was done")
	}

	// A call waits while the hold holds.
	entered := make(chan struct{})
	go func() {
		leave, err := h.enter(ctx)
		if err != nil {
			t.Error(err)
			return
		}
		leave()
		close(entered)
	}()
	select {
	case <-entered:
		t.Fatal("a commit ran under the hold")
	case <-time.After(50 * time.Millisecond):
	}
	if _, err := h.take(ctx, "b", time.Minute); err == nil {
		t.Error("a second hold was taken while the first held")
	}
	if !h.inForce("a") || h.inForce("b") {
		t.Error("inForce does not name the hold in force")
	}
	if !h.release("a") {
		t.Error("release of a hold in force says it was not in force")
	}
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting commit did not run once the hold lifted")
	}

	// A hold nobody lifts lifts by itself, and its release says so.
	if _, err := h.take(ctx, "c", 30*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	leave, err = h.enter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	leave()
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Errorf("a commit under a 30ms hold ran after %v", d)
	}
	if h.inForce("c") || h.release("c") {
		t.Error("an expired hold says it is in force")
	}
	// An expired hold does not block another.
	if _, err := h.take(ctx, "d", time.Minute); err != nil {
		t.Errorf("a hold after an expired one: %v", err)
	}
	h.release("d")

	// A caller that gives up while held gets an error, and is not counted.
	if _, err := h.take(ctx, "e", time.Minute); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := h.enter(cctx); err == nil {
		t.Error("enter under a hold returned without error when its context ended")
	}
	h.release("e")
	if h.running != 0 {
		t.Errorf("running %d after every call left", h.running)
	}
}
