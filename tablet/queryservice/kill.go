package queryservice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/mosaicdb/mosaic/sqlerr"
)

// killer stops running statements with KILL QUERY, sent on connections of
// its own pool as the statement's own account: an account may kill its
// own statements, and none of the query service's accounts may kill
// another's (CONNECTION ADMIN is not theirs).
type killer struct {
	pool  *Pool
	grace time.Duration
	log   *slog.Logger
	// watches pools *killWatch: run arms one for every statement.
	watches sync.Pool
}

// killWatch is what run arms on a statement's context: the connection to
// kill, and whether it was. Pooled, with its fire func made once, so
// that arming one costs a statement only context.AfterFunc's own
// allocation.
type killWatch struct {
	k      *killer
	pc     *PooledConn
	killed bool
	done   sync.WaitGroup // the kill, while it runs
	fire   func()
}

// kill is the watch's AfterFunc.
func (w *killWatch) kill() {
	defer w.done.Done()
	w.killed = true
	w.k.kill(w.pc.ID(), w.pc.account)
	_ = w.pc.SetReadDeadline(time.Now().Add(w.k.grace))
}

func (k *killer) watch(pc *PooledConn) *killWatch {
	w, _ := k.watches.Get().(*killWatch)
	if w == nil {
		w = &killWatch{k: k}
		w.fire = w.kill
	}
	w.pc, w.killed = pc, false
	return w
}

// run calls fn, which runs a statement on pc, and makes sure the statement
// ends when ctx does: a KILL QUERY from another connection, then, if mysqld
// still does not answer within the grace period, a cut connection. A
// killed connection is marked for discard. The returned error is fn's, or
// 3024/1317 once the kill was sent, even if the statement then returned
// success: a commit waiting for a semi-sync ack returns OK when killed,
// though no replica has it, and that must not reach a client as an
// acknowledged write.
func (k *killer) run(ctx context.Context, pc *PooledConn, fn func() error) error {
	if ctx.Done() == nil {
		return fn()
	}
	w := k.watch(pc)
	w.done.Add(1)
	stop := context.AfterFunc(ctx, w.fire)
	err := fn()
	if stop() {
		w.done.Done() // the kill will never run
	}
	// Once the kill (if it started) is over, nothing refers to w.
	w.done.Wait()
	killed := w.killed
	w.pc = nil
	k.watches.Put(w)
	if !killed {
		return err
	}
	_ = pc.SetReadDeadline(time.Time{})
	// The statement may have finished before the kill landed, and mysqld
	// may apply a KILL QUERY to whatever runs next: never reuse it.
	pc.discard = true
	if err == nil {
		err = ctx.Err()
	}
	if ctx.Err() == context.DeadlineExceeded {
		return sqlerr.Wrap(sqlerr.ERQueryTimeout, err, "Query execution was interrupted, maximum statement execution time exceeded")
	}
	return sqlerr.Wrap(sqlerr.ERQueryInterrupted, err, "Query execution was interrupted")
}

// kill sends KILL QUERY id as account. Failures are logged: the read
// deadline set after it still ends the wait.
func (k *killer) kill(id uint32, account int) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	pc, err := k.pool.get(ctx, nil, false, account)
	if err != nil {
		k.log.Warn("cannot kill query: no connection", "conn_id", id, "err", err)
		return
	}
	defer pc.Recycle()
	if err := pc.Exec(fmt.Sprintf("KILL QUERY %d", id)); err != nil {
		var se *sqlerr.Error
		if errors.As(err, &se) && se.Num == sqlerr.ERNoSuchThread {
			return
		}
		k.log.Warn("kill query failed", "conn_id", id, "err", err)
	}
}
