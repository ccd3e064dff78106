package queryservice

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// maxEndedTx bounds how many ended transaction ids are remembered, to tell
// a late caller why its transaction is gone.
const maxEndedTx = 4096

// txConn is an open transaction on its dedicated connection.
type txConn struct {
	id    int64
	conn  *PooledConn
	inUse bool
	// lastUsed is when the last request on it ended.
	lastUsed time.Time
	// xid is set for a branch of a distributed transaction (XA START).
	xid *querypb.Xid
	// tag names the gate's distributed transaction (nil: none given).
	tag *querypb.TransactionTag

	// The fields below are guarded by the pool's mu.

	// stmt numbers the statements run in the transaction; running says
	// one runs now (a statement, not a commit, rollback or prepare), since
	// stmtStart.
	stmt      uint64
	running   bool
	stmtStart time.Time
	// victim, once set, is the deadlock across shards the running
	// statement was interrupted for (lockwait.go): when the statement
	// returns, the transaction is rolled back and the statement fails
	// with 1213.
	victim string
}

// txPool tracks open transactions. Safe for concurrent use.
type txPool struct {
	pool   *Pool
	idle   time.Duration
	log    *slog.Logger
	nextID atomic.Int64

	mu         sync.Mutex
	active     map[int64]*txConn
	ended      map[int64]string
	endedOrder []int64
}

func newTxPool(pool *Pool, idle time.Duration, log *slog.Logger) *txPool {
	tp := &txPool{pool: pool, idle: idle, log: log, active: map[int64]*txConn{}, ended: map[int64]string{}}
	// Ids start at the current time in nanoseconds, so a restarted tablet
	// does not hand out an id a caller may still hold from before.
	tp.nextID.Store(time.Now().UnixNano())
	return tp
}

// register records a transaction begun as bo says, in use by the caller,
// who may run its first statement in it (BeginExecute) before releasing it.
func (tp *txPool) register(pc *PooledConn, bo *querypb.BeginOptions) *txConn {
	now := time.Now()
	tc := &txConn{id: tp.nextID.Add(1), conn: pc, inUse: true, xid: bo.GetXid(), tag: bo.GetTag(), stmt: 1, running: true, stmtStart: now}
	tp.mu.Lock()
	tp.active[tc.id] = tc
	tp.mu.Unlock()
	return tc
}

// get claims transaction id for one request that ends it (commit,
// rollback, prepare); release or end it after.
func (tp *txPool) get(id int64) (*txConn, error) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return tp.claim(id)
}

// getStmt claims transaction id to run a statement in it; done releases
// it after.
func (tp *txPool) getStmt(id int64) (*txConn, error) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	tc, err := tp.claim(id)
	if err != nil {
		return nil, err
	}
	tc.stmt++
	tc.running, tc.stmtStart = true, time.Now()
	return tc, nil
}

// claim marks transaction id in use. The caller holds mu.
func (tp *txPool) claim(id int64) (*txConn, error) {
	tc, ok := tp.active[id]
	if !ok {
		if why, ok := tp.ended[id]; ok {
			return nil, sqlerr.TxEndedError("transaction %d ended: %s", id, why)
		}
		return nil, sqlerr.TxEndedError("transaction %d not found", id)
	}
	if tc.inUse {
		return nil, sqlerr.New(sqlerr.ERUnknown, "transaction %d is in use by another request", id)
	}
	tc.inUse = true
	return tc, nil
}

// release gives a claimed transaction back, or ends it if its connection
// broke or was killed (a killed statement may leave it in any state).
func (tp *txPool) release(tc *txConn) {
	if tc.conn.IsBroken() || tc.conn.discard {
		tp.end(tc, "its connection to mysqld was lost or its statement was killed", false)
		return
	}
	tp.mu.Lock()
	tc.inUse, tc.running = false, false
	tc.lastUsed = time.Now()
	tp.mu.Unlock()
}

// end forgets a transaction and returns its connection; rollback first
// rolls it back (for transactions the caller did not finish).
func (tp *txPool) end(tc *txConn, why string, rollback bool) {
	tp.mu.Lock()
	delete(tp.active, tc.id)
	tp.ended[tc.id] = why
	tp.endedOrder = append(tp.endedOrder, tc.id)
	if len(tp.endedOrder) > maxEndedTx {
		delete(tp.ended, tp.endedOrder[0])
		tp.endedOrder = tp.endedOrder[1:]
	}
	tp.mu.Unlock()
	if rollback && !tc.conn.IsBroken() {
		_ = tc.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if err := tc.rollback(); err != nil {
			tc.conn.discard = true
		}
		_ = tc.conn.SetReadDeadline(time.Time{})
	}
	tc.conn.Recycle()
}

// done releases tc after a statement that returned err and returns the
// error the caller should see. When the statement's failure ended the
// transaction in mysqld (a deadlock), or its connection broke or was
// killed, the transaction is ended here and the error says so (TxEnded).
func (tp *txPool) done(tc *txConn, err error) error {
	// Once running is off, no abort can reach the statement (lockwait.go);
	// one that came first has set victim.
	tp.mu.Lock()
	tc.running = false
	cycle := tc.victim
	tp.mu.Unlock()
	if cycle != "" {
		// The interruption may land on whatever the connection runs
		// next: it rolls back, then closes.
		tc.conn.discard = true
		tp.end(tc, "it was rolled back as the victim of a deadlock across shards", true)
		return deadlockVictimError(cycle)
	}
	if err != nil && rolledBackByMySQL(err) {
		tp.end(tc, "mysqld rolled it back", true)
		return txEnded(err)
	}
	if tc.conn.IsBroken() || tc.conn.discard {
		tp.release(tc)
		if err == nil {
			// The statement finished but the connection cannot be trusted.
			return sqlerr.TxEndedError("transaction %d ended: its connection to mysqld was lost", tc.id)
		}
		return txEnded(err)
	}
	tp.release(tc)
	return err
}

// rolledBackByMySQL reports the errors after which mysqld has rolled back
// the whole transaction, not only the statement.
func rolledBackByMySQL(err error) bool {
	switch sqlerr.FromError(err).Num {
	case sqlerr.ERDeadlock, erXARBRollback, erXARBTimeout, erXARBDeadlock:
		return true
	}
	return false
}

// deadlockVictimError is the error of a statement whose transaction was
// aborted as the victim of a deadlock across shards: what mysqld says
// for a deadlock it finds itself.
func deadlockVictimError(cycle string) error {
	e := sqlerr.New(sqlerr.ERDeadlock, "Deadlock found when trying to get lock; try restarting transaction")
	e.TxEnded = true
	e.Deadlock = cycle
	return e
}

// txEnded marks err as having ended its transaction.
func txEnded(err error) error {
	e := *sqlerr.FromError(err)
	e.TxEnded = true
	return &e
}

// count returns the number of open transactions.
func (tp *txPool) count() int {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return len(tp.active)
}

// killIdle rolls back transactions idle longer than the limit.
func (tp *txPool) killIdle(now time.Time) {
	var victims []*txConn
	tp.mu.Lock()
	for _, tc := range tp.active {
		if !tc.inUse && now.Sub(tc.lastUsed) > tp.idle {
			tc.inUse = true // nobody may claim it while it is rolled back
			victims = append(victims, tc)
		}
	}
	tp.mu.Unlock()
	for _, tc := range victims {
		tp.log.Warn("rolling back idle transaction", "transaction_id", tc.id, "idle_limit", tp.idle)
		tp.end(tc, fmt.Sprintf("rolled back after being idle for more than %v", tp.idle), true)
	}
}

// endAll rolls back every transaction not in use now, for shutdown,
// demotion or a mysqld restart; it reports how many were left in use.
func (tp *txPool) endAll(why string) int {
	_, busy := tp.endIdle(why)
	return busy
}

// endIdle rolls back every transaction not in use now and reports how
// many it ended and how many were in use.
func (tp *txPool) endIdle(why string) (ended, busy int) {
	var victims []*txConn
	tp.mu.Lock()
	for _, tc := range tp.active {
		if tc.inUse {
			busy++
			continue
		}
		tc.inUse = true
		victims = append(victims, tc)
	}
	tp.mu.Unlock()
	for _, tc := range victims {
		tp.end(tc, why, true)
	}
	return len(victims), busy
}

// runKiller runs the transaction killer until ctx ends.
func (tp *txPool) runKiller(ctx context.Context) {
	every := min(max(tp.idle/4, 10*time.Millisecond), time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			tp.killIdle(now)
		}
	}
}
