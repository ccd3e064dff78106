package queryservice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/mosaicdb/mosaic/sqlerr"
)

// killer stops running statements with KILL QUERY, sent on connections of
// its own pool.
type killer struct {
	pool  *Pool
	grace time.Duration
	log   *slog.Logger
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
	var killed atomic.Bool
	done := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(done)
		killed.Store(true)
		k.kill(pc.ID())
		_ = pc.SetReadDeadline(time.Now().Add(k.grace))
	})
	err := fn()
	if !stop() {
		<-done
	}
	if !killed.Load() {
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

// kill sends KILL QUERY id. Failures are logged: the read deadline set
// after it still ends the wait.
func (k *killer) kill(id uint32) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	pc, err := k.pool.Get(ctx, nil)
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
