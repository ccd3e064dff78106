package queryservice

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/sqlerr"
	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
)

// The tablet's side of deadlock detection across shards
// (docs/transactions.md, "Deadlocks across shards"): LockWaits tells a
// detector who waits on whom on this mysqld, with the gate's tags of the
// transactions, and AbortDeadlockVictim interrupts the waiting statement
// of the transaction the detector chose, which then fails with 1213 and
// is rolled back, as mysqld does with the victim of a deadlock it sees.

// lockWaitReadInterval is the least time between two reads of mysqld's
// lock tables. InnoDB refreshes INNODB_TRX and INNODB_LOCK_WAITS only when
// nobody read them in the last 100 ms: reading them more often would keep
// them frozen. Callers in between share the last read.
const lockWaitReadInterval = 110 * time.Millisecond

// lockWaitsSQL lists MariaDB's row lock waits with the mysqld connection
// of the waiting and of the blocking transaction (0 for one that has
// none, such as a prepared XA branch whose connection ended).
const lockWaitsSQL = "SELECT w.requesting_trx_id, w.requested_lock_id, w.blocking_trx_id, w.blocking_lock_id, " +
	"r.trx_mysql_thread_id, b.trx_mysql_thread_id, COALESCE(TIMESTAMPDIFF(SECOND, r.trx_wait_started, NOW()), 0) " +
	"FROM information_schema.INNODB_LOCK_WAITS w " +
	"JOIN information_schema.INNODB_TRX r ON r.trx_id = w.requesting_trx_id " +
	"JOIN information_schema.INNODB_TRX b ON b.trx_id = w.blocking_trx_id"

// lockWaitsSQLMySQL8 is lockWaitsSQL for MySQL 8, which moved the waits to
// performance_schema (untested here).
const lockWaitsSQLMySQL8 = "SELECT w.REQUESTING_ENGINE_TRANSACTION_ID, w.REQUESTING_ENGINE_LOCK_ID, w.BLOCKING_ENGINE_TRANSACTION_ID, w.BLOCKING_ENGINE_LOCK_ID, " +
	"r.trx_mysql_thread_id, b.trx_mysql_thread_id, COALESCE(TIMESTAMPDIFF(SECOND, r.trx_wait_started, NOW()), 0) " +
	"FROM performance_schema.data_lock_waits w " +
	"JOIN information_schema.INNODB_TRX r ON r.trx_id = w.REQUESTING_ENGINE_TRANSACTION_ID " +
	"JOIN information_schema.INNODB_TRX b ON b.trx_id = w.BLOCKING_ENGINE_TRANSACTION_ID"

// erUnknownTable is MySQL's "Unknown table ... in information_schema".
const erUnknownTable = 1109

// mysqldWait is one row of lockWaitsSQL.
type mysqldWait struct {
	waiterTrx, blockerTrx       uint64
	requestedLock, blockingLock string
	waiterConn, blockerConn     uint32
	waitedSeconds               int64
}

// lockWaitReader reads mysqld's lock waits, at most once per
// lockWaitReadInterval.
type lockWaitReader struct {
	mu     sync.Mutex
	mysql8 bool
	at     time.Time
	rows   []mysqldWait
}

// read returns the waits of a read made at or after notBefore (the last
// one, when it is recent enough), and when that read was made. pool gives
// the connection; the account needs the PROCESS privilege.
func (r *lockWaitReader) read(ctx context.Context, pool *Pool, notBefore time.Time) (time.Time, []mysqldWait, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if !r.at.IsZero() && !r.at.Before(notBefore) && now.Sub(r.at) < lockWaitReadInterval {
		return r.at, r.rows, nil
	}
	if wait := lockWaitReadInterval - now.Sub(r.at); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return time.Time{}, nil, sqlerr.Wrap(ctxErrNum(ctx), ctx.Err(), "reading lock waits: %v", ctx.Err())
		}
	}
	at := time.Now()
	rows, err := r.query(ctx, pool)
	if err != nil {
		return time.Time{}, nil, err
	}
	r.at, r.rows = at, rows
	return at, rows, nil
}

func (r *lockWaitReader) query(ctx context.Context, pool *Pool) ([]mysqldWait, error) {
	pc, err := pool.Get(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer pc.Recycle()
	if dl, ok := ctx.Deadline(); ok {
		_ = pc.SetReadDeadline(dl)
		defer func() { _ = pc.SetReadDeadline(time.Time{}) }()
	}
	sql := lockWaitsSQL
	if r.mysql8 {
		sql = lockWaitsSQLMySQL8
	}
	res, err := pc.Execute(sql, 100000)
	var se *sqlerr.Error
	if err != nil && !r.mysql8 && errors.As(err, &se) && se.Num == erUnknownTable {
		r.mysql8 = true
		res, err = pc.Execute(lockWaitsSQLMySQL8, 100000)
	}
	if err != nil {
		return nil, fmt.Errorf("read lock waits: %w", err)
	}
	out := make([]mysqldWait, 0, len(res.Rows))
	for _, row := range res.Rows {
		v, err := mysqlconn.RowValues(row, 7)
		if err != nil {
			return nil, fmt.Errorf("read lock waits: %w", err)
		}
		w := mysqldWait{requestedLock: string(v[1]), blockingLock: string(v[3])}
		w.waiterTrx, _ = strconv.ParseUint(string(v[0]), 10, 64)
		w.blockerTrx, _ = strconv.ParseUint(string(v[2]), 10, 64)
		c, _ := strconv.ParseUint(string(v[4]), 10, 32)
		w.waiterConn = uint32(c)
		c, _ = strconv.ParseUint(string(v[5]), 10, 32)
		w.blockerConn = uint32(c)
		w.waitedSeconds, _ = strconv.ParseInt(string(v[6]), 10, 64)
		out = append(out, w)
	}
	return out, nil
}

// SetLockWaitPool gives the service the connections it reads mysqld's
// lock waits on (their account needs the PROCESS privilege); without one
// it uses the connections it kills statements from. Call it before the
// service serves.
func (s *Service) SetLockWaitPool(p *Pool) { s.lockWaitPool = p }

// txView is what LockWaits needs of one open transaction.
type txView struct {
	id        int64
	tag       *querypb.TransactionTag
	stmt      uint64
	running   bool
	stmtStart time.Time
}

// runningSince reports whether a statement of a transaction has been
// running since before cutoff.
func (tp *txPool) runningSince(cutoff time.Time) bool {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	for _, tc := range tp.active {
		if tc.running && tc.stmtStart.Before(cutoff) {
			return true
		}
	}
	return false
}

// byConn returns the open transactions by their mysqld connection id.
func (tp *txPool) byConn() map[uint32]txView {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	out := make(map[uint32]txView, len(tp.active))
	for _, tc := range tp.active {
		out[tc.conn.ID()] = txView{id: tc.id, tag: tc.tag, stmt: tc.stmt, running: tc.running, stmtStart: tc.stmtStart}
	}
	return out
}

// LockWaits implements querypb.QueryServer.
func (s *Service) LockWaits(ctx context.Context, req *querypb.LockWaitsRequest) (*querypb.LockWaitsResponse, error) {
	resp := &querypb.LockWaitsResponse{Keyspace: s.id.Keyspace, Shard: s.id.Shard, TabletAlias: s.id.Alias}
	minWait := time.Duration(req.MinWaitMs) * time.Millisecond
	if minWait < 0 {
		minWait = 0
	}
	if !s.txs.runningSince(time.Now().Add(-minWait)) {
		return resp, nil
	}
	var notBefore time.Time
	if req.Fresh {
		notBefore = time.Now()
	}
	at, rows, err := s.lockWaits.read(ctx, s.lockWaitSource(), notBefore)
	if err != nil {
		return nil, s.fail(err)
	}
	resp.ReadUnixNano = at.UnixNano()
	txs := s.txs.byConn()
	for _, w := range rows {
		lw := &querypb.LockWait{
			Waiter:        &querypb.LockWaitTx{TrxId: w.waiterTrx},
			Blocker:       &querypb.LockWaitTx{TrxId: w.blockerTrx},
			RequestedLock: w.requestedLock,
			BlockingLock:  w.blockingLock,
			WaitedMs:      w.waitedSeconds * 1000,
		}
		if t, ok := txs[w.waiterConn]; ok && w.waiterConn != 0 {
			// The statement waiting at the read must be the one running
			// now, and have run for minWait by then.
			if !t.running || t.stmtStart.After(at.Add(-minWait)) {
				continue
			}
			lw.Waiter.TransactionId, lw.Waiter.Tag, lw.Waiter.Statement = t.id, t.tag, t.stmt
			lw.WaitedMs = at.Sub(t.stmtStart).Milliseconds()
		}
		if t, ok := txs[w.blockerConn]; ok && w.blockerConn != 0 {
			lw.Blocker.TransactionId, lw.Blocker.Tag = t.id, t.tag
		}
		resp.Waits = append(resp.Waits, lw)
	}
	return resp, nil
}

func (s *Service) lockWaitSource() *Pool {
	if s.lockWaitPool != nil {
		return s.lockWaitPool
	}
	return s.killer.pool
}

// markVictim marks the running statement stmt of transaction id as
// aborted for cycle and returns its mysqld connection, or says why it
// cannot: the transaction ended, or the statement is no longer running.
// first is false when the statement was marked already (two detectors
// may choose the same victim): it is being interrupted.
func (tp *txPool) markVictim(id int64, stmt uint64, cycle string) (pc *PooledConn, first bool, why string) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	tc, ok := tp.active[id]
	switch {
	case !ok:
		return nil, false, "the transaction has ended"
	case !tc.running || tc.stmt != stmt:
		return nil, false, "the statement has finished"
	case tc.victim != "":
		return tc.conn, false, ""
	}
	tc.victim = cycle
	return tc.conn, true, ""
}

// AbortDeadlockVictim implements querypb.QueryServer. It checks, in its
// latest read of mysqld's lock waits (the one the detector saw, or a
// later one; a new one when that is too old to share), that the
// statement still waits for the lock the detector saw, and that it still
// runs, then interrupts it (KILL QUERY); the statement's own call then
// rolls the transaction back and fails with 1213 (txPool.done).
func (s *Service) AbortDeadlockVictim(ctx context.Context, req *querypb.AbortDeadlockVictimRequest) (*querypb.AbortDeadlockVictimResponse, error) {
	no := func(why string) (*querypb.AbortDeadlockVictimResponse, error) {
		return &querypb.AbortDeadlockVictimResponse{Reason: why}, nil
	}
	txs := s.txs.byConn()
	var conn uint32
	for c, t := range txs {
		if t.id == req.TransactionId {
			conn = c
		}
	}
	if conn == 0 {
		return no("the transaction has ended")
	}
	notBefore := time.Now()
	if req.ReadUnixNano != 0 {
		notBefore = time.Unix(0, req.ReadUnixNano)
	}
	_, rows, err := s.lockWaits.read(ctx, s.lockWaitSource(), notBefore)
	if err != nil {
		return nil, s.fail(err)
	}
	waiting := false
	for _, w := range rows {
		if w.waiterConn == conn && w.waiterTrx == req.TrxId && w.requestedLock == req.RequestedLock {
			waiting = true
		}
	}
	if !waiting {
		return no("the statement no longer waits for that lock")
	}
	pc, first, why := s.txs.markVictim(req.TransactionId, req.Statement, req.Cycle)
	if why != "" {
		return no(why)
	}
	if !first {
		return &querypb.AbortDeadlockVictimResponse{Aborted: true}, nil
	}
	// As the statement's own account: an account may kill its own
	// statements (killer).
	s.killer.kill(pc.ID(), pc.account)
	s.metrics.recordDeadlockVictim()
	s.log.Warn("aborted the victim of a deadlock across shards", "transaction_id", req.TransactionId, "cycle", req.Cycle)
	return &querypb.AbortDeadlockVictimResponse{Aborted: true}, nil
}
