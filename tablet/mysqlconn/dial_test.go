package mysqlconn

import (
	"context"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/testports"
)

// A server that accepts and never greets (a stuck mysqld) does not hold
// Dial past the end of its context, deadline or not.
func TestDialEndsWithContext(t *testing.T) {
	l, err := testports.Listen()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(200*time.Millisecond, cancel)
	done := make(chan error, 1)
	go func() {
		c, err := Dial(ctx, Params{Addr: l.Addr().String(), User: "root"})
		if err == nil {
			c.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Dial to a silent server succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Dial to a silent server did not end 10s after its context")
	}
}
