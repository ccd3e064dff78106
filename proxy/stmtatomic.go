package proxy

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/status"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/router"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// Statements inside a transaction are all or nothing, as on one MariaDB
// server (docs/transactions.md, "A statement that fails"):
//
//   - A statement that may write and reaches several shards sets the
//     implicit savepoint stmtSavepoint on each of them first, in the same
//     tablet call (ExecuteRequest.savepoints). When it fails on some
//     shards, the gate rolls back to that savepoint on the shards where it
//     succeeded; where it failed, mysqld undid it already. A shard that
//     joins the transaction with the statement gets the savepoint right
//     after its BEGIN, so it ends up as if it never ran the statement. A
//     statement that reaches one shard pays nothing: mysqld undoes it.
//   - No call in a shard transaction is ever cancelled because a sibling
//     failed: its tablet would kill the statement and drop the shard's
//     transaction. The calls run on the client statement's own context,
//     which only the client (KILL, a time limit, a closed connection)
//     cancels.
//   - A shard transaction that is gone (rolled back by mysqld or for
//     idling, its connection lost, its tablet restarted) or in an unknown
//     state (the call to its tablet failed in transit) is recorded as lost
//     (txState.lost): the client's whole transaction is rolled back at the
//     end of that statement (afterError) and COMMIT never commits any part
//     of it.

// stmtSavepoint is the implicit savepoint of a statement that reaches
// several shards. Setting it again moves it, so one name serves every
// statement; a client may not use it (savepoint.go).
const stmtSavepoint = "_mosaic_stmt"

type stmtCtxKey struct{}

// withStatement marks ctx as the context of one client statement.
func withStatement(ctx context.Context) context.Context {
	return context.WithValue(ctx, stmtCtxKey{}, ctx)
}

// statementContext returns the context of the client statement ctx
// belongs to, which the router's own cancellations (a sibling's error in
// a fan-out or a merge) do not reach; ctx itself outside a statement.
func statementContext(ctx context.Context) context.Context {
	if s, ok := ctx.Value(stmtCtxKey{}).(context.Context); ok {
		return s
	}
	return ctx
}

// shardTxErr turns the error of a call in the shard transaction of key
// into the client's error. An error that mysqld or the tablet did not
// answer (the call failed in transit, or was cancelled on its way) leaves
// the shard transaction in an unknown state: it counts as ended.
func shardTxErr(key shardKey, err error) error {
	if err == nil {
		return nil
	}
	e := sqlerr.FromError(err)
	if e.TxEnded || answered(err) {
		return e
	}
	lost := sqlerr.Wrap(e.Num, err, "the transaction on %s is in an unknown state: %s", key, e.Message)
	lost.State = e.State
	lost.TxEnded = true
	return lost
}

// answered reports whether err is an answer of the tablet (a MySQL error
// in the status details) or the gate's own, rather than a call that
// failed in transit.
func answered(err error) bool {
	if st, ok := status.FromError(err); ok {
		for _, d := range st.Details() {
			if _, ok := d.(*querypb.MySQLError); ok {
				return true
			}
		}
		return false
	}
	var se *sqlerr.Error
	return errors.As(err, &se)
}

// markTxLost records that a shard transaction of the open transaction is
// gone; the first reason is kept.
func (s *Session) markTxLost(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tx.lost == nil {
		s.tx.lost = err
	}
}

// txLost returns why a shard transaction of the open transaction is gone,
// nil while none is.
func (s *Session) txLost() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tx.lost
}

func (s *Session) isWriting() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writing
}

// eachInTx runs a statement's queries in the session's transaction, one
// per shard, and settles how it ended on every shard.
func (e *sessionExecutor) eachInTx(ctx context.Context, qs []router.ShardQuery) ([]*querypb.QueryResult, error) {
	ctx = statementContext(ctx)
	out := make([]*querypb.QueryResult, len(qs))
	if len(qs) == 1 {
		r, err := e.executeOne(ctx, qs[0], true, "")
		out[0] = r
		return out, err
	}
	sp := ""
	if e.s.isWriting() && !e.gw.noStmtSavepoint {
		sp = stmtSavepoint
	}
	errs := make([]error, len(qs))
	e.gw.All(ctx, len(qs), func(ctx context.Context, i int) {
		out[i], errs[i] = e.executeOne(ctx, qs[i], true, sp)
	})
	return out, e.settle(ctx, qs, errs, sp)
}

// settle returns the error of a statement that ran on several shards.
// When it failed on some but not all, and sp was set, it is undone where
// it succeeded; a shard where that fails is lost.
func (e *sessionExecutor) settle(ctx context.Context, qs []router.ShardQuery, errs []error, sp string) error {
	var first error
	for _, err := range errs {
		if err == nil {
			continue
		}
		if sqlerr.IsTxEnded(err) {
			// The whole transaction ends (afterError).
			return err
		}
		if first == nil {
			first = err
		}
	}
	if first == nil || sp == "" {
		return first
	}
	var undo []*shardTx
	for i, q := range qs {
		if errs[i] != nil {
			continue
		}
		if tx := e.s.getTx(shardKey{q.Keyspace, q.Shard}); tx != nil {
			undo = append(undo, tx)
		}
	}
	uerrs := make([]error, len(undo))
	sql := "ROLLBACK TO SAVEPOINT " + quoteIdent(sp)
	e.gw.All(ctx, len(undo), func(ctx context.Context, i int) {
		tx := undo[i]
		_, err := tx.tablet.Client.Execute(ctx, &querypb.ExecuteRequest{Target: tx.target, Sql: sql, TransactionId: tx.txID, Options: e.options()})
		uerrs[i] = err
	})
	for i, err := range uerrs {
		if err != nil {
			e.s.markTxLost(sqlerr.TxEndedError("the failed statement could not be undone on %s: %s", undo[i].key, sqlerr.FromError(err).Message))
		}
	}
	return first
}

// txLostError is the client's error for a transaction rolled back because
// a shard transaction of it was lost.
func txLostError(lost error) error {
	e := sqlerr.FromError(lost)
	out := sqlerr.Wrap(e.Num, lost, "%s; the transaction was rolled back", e.Message)
	out.State = e.State
	return out
}

// commitLostError is COMMIT's error when a shard transaction was lost
// before anything committed: everything was rolled back.
func commitLostError(key shardKey, cause error) error {
	e := sqlerr.FromError(cause)
	msg := fmt.Sprintf("commit failed: the transaction on %s was lost (%s); nothing was committed, the transaction was rolled back on every shard", key, e.Message)
	if key == (shardKey{}) {
		msg = fmt.Sprintf("commit failed: a shard's transaction was lost (%s); nothing was committed, the transaction was rolled back on every shard", e.Message)
	}
	return sqlerr.Wrap(sqlerr.ERErrorDuringCommit, cause, "%s", msg)
}
