package proxy

import (
	"context"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/format"

	"github.com/mosaicdb/mosaic/proxy/mysqlsrv"
	"github.com/mosaicdb/mosaic/router"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// The errors a statement ends with when its context is cancelled: they
// are the context's cause, so the client sees why it stopped, whatever
// error the interrupted shard call returned.
var (
	errKilled = sqlerr.New(sqlerr.ERQueryInterrupted, "Query execution was interrupted")
	// errMaxExecutionTime is MySQL's error for the gate's --query-timeout,
	// the MAX_EXECUTION_TIME hint and SET max_execution_time.
	errMaxExecutionTime = sqlerr.New(sqlerr.ERQueryTimeout, "Query execution was interrupted, maximum statement execution time exceeded")
	// errMaxStatementTime is MariaDB's for SET max_statement_time.
	errMaxStatementTime = sqlerr.New(sqlerr.ERStatementTimeout, "Query execution was interrupted (max_statement_time exceeded)")
)

// statementLimits are a session's own statement time limits.
type statementLimits struct {
	// maxExecutionTime is MySQL's max_execution_time (SELECT only).
	maxExecutionTime time.Duration
	// maxStatementTime is MariaDB's max_statement_time (every statement).
	maxStatementTime time.Duration
}

// queryContext derives the context of one statement: cancelled by KILL
// QUERY and by the connection closing, with the tightest of the gate's
// query timeout, the statement's MAX_EXECUTION_TIME hint and the
// session's limits. stmt may be nil (unparsed).
func (cc *clientConn) queryContext(ctx context.Context, stmt ast.StmtNode, command, info string) (context.Context, context.CancelFunc) {
	limit, cause := cc.g.cfg.QueryTimeout, error(errMaxExecutionTime)
	tighter := func(d time.Duration, c error) {
		if d > 0 && (limit == 0 || d < limit) {
			limit, cause = d, c
		}
	}
	sel := isSelect(stmt)
	if d := hintTimeout(stmt); d > 0 {
		tighter(d, errMaxExecutionTime)
	} else if sel {
		tighter(cc.limits.maxExecutionTime, errMaxExecutionTime)
	}
	tighter(cc.limits.maxStatementTime, errMaxStatementTime)

	ctx, cancel := context.WithCancelCause(ctx)
	cc.stopTimer = nil
	if limit > 0 {
		cc.stopTimer = time.AfterFunc(limit, func() { cancel(cause) })
	}
	act := activity{user: cc.s.User, db: cc.s.Keyspace, command: command, info: info, since: time.Now()}
	cc.mu.Lock()
	cc.cancelQuery = cancel
	cc.act = act
	cc.mu.Unlock()
	if cc.endQueryFn == nil {
		cc.endQueryFn = cc.endQuery
	}
	return withStatement(ctx), cc.endQueryFn
}

// endQuery ends the statement queryContext started: the connection's
// statements run one at a time, so what it ends is kept in the
// connection, and the function queryContext returns is made once per
// connection rather than as a closure per statement.
func (cc *clientConn) endQuery() {
	if cc.stopTimer != nil {
		cc.stopTimer.Stop()
		cc.stopTimer = nil
	}
	// The statement may have changed the keyspace (USE).
	act := activity{user: cc.s.User, db: cc.s.Keyspace, command: "Sleep", since: time.Now()}
	cc.mu.Lock()
	cancel := cc.cancelQuery
	cc.cancelQuery = nil
	cc.act = act
	cc.mu.Unlock()
	if cancel != nil {
		cancel(context.Canceled)
	}
}

// planEarly plans sql for the session before its time limits are set,
// which depend on the statement (MAX_EXECUTION_TIME): the plan is then
// used for the limits and handed down to run the statement, so that it is
// planned once. The zero value, for a USE, plans nothing.
func (cc *clientConn) planEarly(sql string) earlyPlan {
	if _, ok := useStatement(sql); ok {
		return earlyPlan{}
	}
	plan, bv, err := cc.g.router.PlanAt(sql, cc.s.Keyspace, cc.s.TabletType, cc.s.ParseMode)
	return earlyPlan{sql: sql, keyspace: cc.s.Keyspace, plan: plan, bv: bv, err: err, ok: true}
}

// earlyPlan is the plan planEarly made for a statement about to run.
type earlyPlan struct {
	sql, keyspace string
	plan          *router.Plan
	bv            router.BindVars
	err           error
	ok            bool
}

// stmt returns the parsed statement, for its time limits; nil when it
// did not plan.
func (p *earlyPlan) stmt() ast.StmtNode {
	if !p.ok || p.err != nil {
		return nil
	}
	return p.plan.Stmt
}

// plan plans sql for the session, taking early's plan when it is sql's in
// the session's keyspace rather than planning it twice. It learns the
// columns of a table the router asks for (see planLearning).
func (cc *clientConn) plan(ctx context.Context, sql string, early *earlyPlan) (*router.Plan, router.BindVars, error) {
	var p earlyPlan
	if early != nil {
		p = *early
		// Used once: a statement planned again (its keyspace switched
		// traffic) plans afresh.
		*early = earlyPlan{}
	}
	if !p.ok || p.sql != sql || p.keyspace != cc.s.Keyspace {
		p.plan, p.bv, p.err = cc.g.router.PlanAt(sql, cc.s.Keyspace, cc.s.TabletType, cc.s.ParseMode)
	}
	plan, bv, err := cc.g.planLearning(ctx, sql, cc.s.Keyspace, cc.s.TabletType, cc.s.ParseMode, p.plan, p.bv, p.err)
	return cc.forAccount(sql, plan, bv, err)
}

// interrupted returns the error a statement that failed with err reports:
// the reason its context was cancelled, when it was.
func interrupted(ctx context.Context, err error) error {
	if err == nil || ctx.Err() == nil {
		return err
	}
	var se *sqlerr.Error
	if c := context.Cause(ctx); errors.As(c, &se) {
		return se
	}
	return err
}

func isSelect(stmt ast.StmtNode) bool {
	switch stmt.(type) {
	case *ast.SelectStmt, *ast.SetOprStmt:
		return true
	}
	return false
}

// hintTimeout returns a statement's /*+ MAX_EXECUTION_TIME(ms) */.
func hintTimeout(stmt ast.StmtNode) time.Duration {
	sel, ok := stmt.(*ast.SelectStmt)
	if !ok {
		return 0
	}
	for _, h := range sel.TableHints {
		if h.HintName.L == "max_execution_time" {
			if ms, ok := h.HintData.(uint64); ok {
				return time.Duration(ms) * time.Millisecond
			}
		}
	}
	return 0
}

// setStatementLimit applies SET max_execution_time (milliseconds, MySQL)
// or SET max_statement_time (seconds, MariaDB). The gate enforces both
// itself, across every shard a statement touches; neither is sent to
// the tablets.
func (cc *clientConn) setStatementLimit(name string, value ast.ExprNode) error {
	var sb strings.Builder
	if err := value.Restore(format.NewRestoreCtx(format.RestoreStringWithoutCharset, &sb)); err != nil {
		return err
	}
	text := strings.Trim(sb.String(), "'\"")
	if strings.EqualFold(text, "default") {
		text = "0"
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || f < 0 {
		return sqlerr.New(sqlerr.ERWrongValueForVar, "Variable '%s' can't be set to the value of '%s'", name, sb.String())
	}
	switch name {
	case "max_execution_time":
		cc.limits.maxExecutionTime = time.Duration(f) * time.Millisecond
	default:
		cc.limits.maxStatementTime = time.Duration(f * float64(time.Second))
	}
	return nil
}

// isStatementLimitVar says whether SET name is one the gate keeps.
func isStatementLimitVar(name string) bool {
	return name == "max_execution_time" || name == "max_statement_time"
}

// kill carries out KILL [CONNECTION | QUERY] id. KILL QUERY cancels the
// victim's running statement (its shard calls end, and the tablets kill
// the mysqld queries); KILL CONNECTION does that and closes the
// connection.
func (cc *clientConn) kill(st *ast.KillStmt) error {
	if st.ConnectionID > 0xffffffff {
		return sqlerr.New(sqlerr.ERNoSuchThread, "Unknown thread id: %d", st.ConnectionID)
	}
	return cc.killID(uint32(st.ConnectionID), st.Query)
}

func (cc *clientConn) killID(id uint32, queryOnly bool) error {
	v, ok := cc.g.conns.Load(id)
	if !ok {
		return sqlerr.New(sqlerr.ERNoSuchThread, "Unknown thread id: %d", id)
	}
	target := v.(*clientConn)
	if !cc.mayKill(target) {
		return sqlerr.New(sqlerr.ERKillDenied, "You are not owner of thread %d", id)
	}
	target.cancelRunning()
	if queryOnly {
		return cc.writeOK(0, 0)
	}
	if target == cc {
		// Killing oneself: answer first, then go away.
		cc.writeOK(0, 0)
		cc.pw.Flush()
		cc.close()
		return nil
	}
	target.close()
	return cc.writeOK(0, 0)
}

// mayKill says whether this connection's account may kill target's
// statements: its own account's, or any with CONNECTION ADMIN, as on
// mysqld.
func (cc *clientConn) mayKill(target *clientConn) bool {
	if cc.acct == nil || target.acct == nil || cc.acct.Name == target.acct.Name {
		return true
	}
	return cc.acct.hasPrivilege(privConnectionAdmin)
}

// maySee says whether SHOW PROCESSLIST shows target to this connection's
// account: its own account's connections, or every one with PROCESS, as
// on mysqld.
func (cc *clientConn) maySee(target *clientConn) bool {
	if cc.acct == nil || target.acct == nil || cc.acct.Name == target.acct.Name {
		return true
	}
	return cc.acct.hasPrivilege(privProcess)
}

// cancelRunning cancels the connection's running statement, if any.
func (cc *clientConn) cancelRunning() {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.cancelQuery != nil {
		cc.cancelQuery(errKilled)
	}
}

// handleProcessKill answers COM_PROCESS_KILL, the old command form of
// KILL CONNECTION.
func (cc *clientConn) handleProcessKill(data []byte) error {
	if len(data) < 4 {
		return cc.writeError(mysqlsrv.ErrMalformed("COM_PROCESS_KILL"))
	}
	if err := cc.killID(binary.LittleEndian.Uint32(data), false); err != nil {
		return cc.writeError(err)
	}
	return nil
}
