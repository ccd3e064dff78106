package bench

import (
	"context"
	"net"
	"sync"
)

// Forward is a hop that does nothing but move bytes: every connection
// accepted on l is joined to a new connection from dial, and whatever one
// side sends is read into a buffer and written to the other, unparsed.
//
// Two such hops in a row, between a client and mysqld, cost what any
// two-process proxy chain costs in the kernel (the reads, writes, sleeps
// and wake-ups of each hop) and nothing else. `mosaic-bench suite`
// measures them beside mysqld directly, which shows how far a two-hop
// design (a gate and a tablet) can get on the machine at hand.
//
// The copy goes through user space on purpose (a plain read and write, no
// splice), as in every proxy that looks at what it forwards.
//
// Forward returns when ctx ends, after closing l and every connection
// and waiting for their goroutines; or earlier with the error of l.Accept.
func Forward(ctx context.Context, l net.Listener, dial func(context.Context) (net.Conn, error)) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]struct{}{}
	track := func(c net.Conn) bool {
		mu.Lock()
		defer mu.Unlock()
		if conns == nil {
			return false
		}
		conns[c] = struct{}{}
		return true
	}
	stop := context.AfterFunc(ctx, func() {
		l.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		conns = nil
		mu.Unlock()
	})
	defer stop()
	defer wg.Wait()
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if !track(c) {
			c.Close()
			return nil
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			t, err := dial(ctx)
			if err != nil {
				return
			}
			defer t.Close()
			if !track(t) {
				return
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				pump(t, c)
				t.Close()
			}()
			pump(c, t)
			c.Close()
			<-done
			mu.Lock()
			if conns != nil {
				delete(conns, c)
				delete(conns, t)
			}
			mu.Unlock()
		}()
	}
}

// pump copies src to dst until either fails.
func pump(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
