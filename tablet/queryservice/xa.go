package queryservice

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// mysqld errors of XA branches.
const (
	erXARBRollback = 1402 // XA_RBROLLBACK: the branch was rolled back
	erXARBTimeout  = 1613 // XA_RBTIMEOUT
	erXARBDeadlock = 1614 // XA_RBDEADLOCK
	erXAERNota     = 1397 // XAER_NOTA: unknown XID
	erXAERRMFail   = 1399 // XAER_RMFAIL: the command cannot run in this branch state
)

// xidSQL renders an xid for XA statements, as hex literals so that no
// quoting question arises.
func xidSQL(x *querypb.Xid) string {
	return "X'" + hex.EncodeToString([]byte(x.Gtrid)) + "',X'" + hex.EncodeToString([]byte(x.Bqual)) + "'"
}

func validXid(x *querypb.Xid) error {
	if x == nil || x.Gtrid == "" || len(x.Gtrid) > 64 || len(x.Bqual) > 64 {
		return sqlerr.New(sqlerr.ERUnknown, "invalid XA transaction id %v: gtrid must have 1 to 64 bytes, bqual at most 64", x)
	}
	return nil
}

// isolationLevels are the levels BeginOptions.isolation may name.
var isolationLevels = map[string]bool{
	"READ UNCOMMITTED": true,
	"READ COMMITTED":   true,
	"REPEATABLE READ":  true,
	"SERIALIZABLE":     true,
}

// beginStatements returns the statements that begin a transaction with o.
func beginStatements(o *querypb.BeginOptions) ([]string, error) {
	if o == nil {
		return []string{"BEGIN"}, nil
	}
	var out []string
	var chars []string
	if o.Isolation != "" {
		level := strings.ToUpper(strings.ReplaceAll(o.Isolation, "-", " "))
		if !isolationLevels[level] {
			return nil, sqlerr.New(sqlerr.ERWrongValueForVar, "Variable 'tx_isolation' can't be set to the value of '%s'", o.Isolation)
		}
		chars = append(chars, "ISOLATION LEVEL "+level)
	}
	if o.Xid != nil {
		if err := validXid(o.Xid); err != nil {
			return nil, err
		}
		if o.ReadOnly {
			chars = append(chars, "READ ONLY")
		}
		if len(chars) > 0 {
			out = append(out, "SET TRANSACTION "+strings.Join(chars, ", "))
		}
		return append(out, "XA START "+xidSQL(o.Xid)), nil
	}
	if len(chars) > 0 {
		out = append(out, "SET TRANSACTION "+strings.Join(chars, ", "))
	}
	var props []string
	if o.ReadOnly {
		props = append(props, "READ ONLY")
	}
	if o.ConsistentSnapshot {
		props = append(props, "WITH CONSISTENT SNAPSHOT")
	}
	if len(props) == 0 {
		return append(out, "BEGIN"), nil
	}
	return append(out, "START TRANSACTION "+strings.Join(props, ", ")), nil
}

// commit commits the transaction in one phase. A commit whose connection
// fails once the statement is on its way (mysqld killed, stopped and cut
// off, the socket reset) may have committed or not: its error says so
// (sqlerr.CommitOutcomeUnknown), never one the gate reports as nothing
// committed.
func (tc *txConn) commit() error {
	if tc.xid == nil {
		return tc.commitStatement("COMMIT")
	}
	x := xidSQL(tc.xid)
	if err := tc.conn.Exec("XA END " + x); err != nil {
		_ = tc.conn.Exec("XA ROLLBACK " + x)
		return err
	}
	return tc.commitStatement("XA COMMIT " + x + " ONE PHASE")
}

// commitStatement runs the statement that commits. A connection broken
// before it was sent never carried it (mysqld rolls the transaction back
// with its connection); once sent, mysqld never answers 2006 itself, so
// that error means the answer was lost.
func (tc *txConn) commitStatement(sql string) error {
	sent := !tc.conn.IsBroken()
	err := tc.conn.Exec(sql)
	var se *sqlerr.Error
	if sent && errors.As(err, &se) && se.Num == sqlerr.ERServerGone {
		return sqlerr.CommitOutcomeUnknown(err, sql)
	}
	return err
}

// rollback rolls the transaction back. An XA branch may already be ended
// (idle) or marked rollback-only; XA END failing is fine then.
func (tc *txConn) rollback() error {
	if tc.xid == nil {
		return tc.conn.Exec("ROLLBACK")
	}
	x := xidSQL(tc.xid)
	_ = tc.conn.Exec("XA END " + x)
	err := tc.conn.Exec("XA ROLLBACK " + x)
	if err != nil && sqlerr.FromError(err).Num == erXAERNota {
		// mysqld already rolled it back (deadlock).
		return nil
	}
	return err
}

// prepare ends and prepares an XA branch. Before XA END the branch writes
// its proof row (branchProofSQL): once the branch commits, the row is
// there; while it is prepared or after it rolled back, it is not. It also
// keeps a branch that changed nothing from being dropped at XA PREPARE.
//
// The proof row is written first, under the caller's killer (a plain
// statement); XA END and XA PREPARE run unkillable.
func (tc *txConn) prepare(ctx context.Context, k *killer, now time.Time) error {
	if tc.xid == nil {
		return sqlerr.New(sqlerr.ERUnknown, "transaction %d is not a distributed transaction branch", tc.id)
	}
	err := k.run(ctx, tc.conn, func() error { return tc.conn.Exec(branchProofSQL(tc.xid.Gtrid, now)) })
	if err != nil {
		return fmt.Errorf("record the branch of %s: %w", tc.xid.Gtrid, err)
	}
	x := xidSQL(tc.xid)
	return unkillable(tc.conn, func() error {
		if err := tc.conn.Exec("XA END " + x); err != nil {
			return fmt.Errorf("XA END: %w", err)
		}
		if err := tc.conn.Exec("XA PREPARE " + x); err != nil {
			return fmt.Errorf("XA PREPARE: %w", err)
		}
		return nil
	})
}

// xaStatementLimit bounds the wait for mysqld's answer to an XA statement
// that must not be interrupted (unkillable).
const xaStatementLimit = 30 * time.Second

// unkillable runs fn, XA statements on pc, without any KILL QUERY, however
// the caller's context ends. MariaDB 10.11 can leave a branch behind when
// a KILL lands on XA COMMIT (and, we fear, on the other statements that
// change a branch's state): its InnoDB transaction stays prepared,
// holding its locks, while XA RECOVER no longer lists it and XA COMMIT
// and XA ROLLBACK answer XAER_NOTA. TestStatementAtomicity hit it when the
// tablet's query timeout killed a CommitPrepared under load: one shard
// committed, the other stayed locked for good. The wait is bounded by a
// read deadline instead: past it the connection is broken and never
// reused, and mysqld finishes the statement on its own.
func unkillable(pc *PooledConn, fn func() error) error {
	_ = pc.SetReadDeadline(time.Now().Add(xaStatementLimit))
	err := fn()
	_ = pc.SetReadDeadline(time.Time{})
	if pc.IsBroken() {
		pc.discard = true
	}
	return err
}
