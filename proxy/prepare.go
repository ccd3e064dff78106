package proxy

import (
	"context"
	"encoding/binary"
	"slices"
	"strings"
	"time"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/format"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proxy/mysqlsrv"
	"github.com/mosaicdb/mosaic/router"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// Prepared statements over the binary protocol. COM_STMT_PREPARE plans the
// text with its ? markers once (the router caches the plan); each
// COM_STMT_EXECUTE binds the values with Plan.Bind, so routing follows the
// values of that execution, and the result goes out as binary rows.

// maxPreparedStmts bounds one connection's open statements, as mysqld's
// max_prepared_stmt_count does for the server.
const maxPreparedStmts = 16382

// preparedStmt is one statement prepared on a connection.
type preparedStmt struct {
	id        uint32
	sql       string
	numParams int
	// types are the parameter types of the last execution that bound them.
	types []mysqlsrv.ParamType
	// longData collects COM_STMT_SEND_LONG_DATA by parameter, until the
	// next execution.
	longData map[int][]byte
	// longDataSize is the bytes in longData.
	longDataSize int
	// longDataErr is a bad COM_STMT_SEND_LONG_DATA, reported by the next
	// execution (that command has no response).
	longDataErr error
	// columns are the result columns the client holds, when it caches
	// them (MARIADB_CLIENT_CACHE_METADATA): those of the prepare
	// response, then of the last execution that sent them.
	columns mysqlsrv.ColumnCache
	// savepoint is set for SAVEPOINT, ROLLBACK TO and RELEASE SAVEPOINT,
	// which the gate carries out as it does their text (the parser does
	// not take every form, such as ROLLBACK WORK TO).
	savepoint *controlStmt
}

// preparedStmts are a connection's statements by id. Their long data is
// charged to budget (nil: none) until it is used or dropped.
type preparedStmts struct {
	byID   map[uint32]*preparedStmt
	lastID uint32
	budget *memBudget
}

func (ps *preparedStmts) get(id uint32) *preparedStmt {
	return ps.byID[id]
}

func (ps *preparedStmts) add(st *preparedStmt) error {
	if ps.byID == nil {
		ps.byID = map[uint32]*preparedStmt{}
	}
	if len(ps.byID) >= maxPreparedStmts {
		return sqlerr.New(1461, "Can't create more than max_prepared_stmt_count statements (current value: %d)", maxPreparedStmts)
	}
	ps.lastID++
	st.id = ps.lastID
	ps.byID[st.id] = st
	return nil
}

// closeAll forgets every statement (COM_RESET_CONNECTION, COM_CHANGE_USER,
// the end of the connection).
func (ps *preparedStmts) closeAll() {
	for _, st := range ps.byID {
		ps.resetLongData(st)
	}
	ps.byID = nil
}

// close forgets the statement id.
func (ps *preparedStmts) close(id uint32) {
	if st := ps.byID[id]; st != nil {
		ps.resetLongData(st)
		delete(ps.byID, id)
	}
}

// resetLongData forgets a statement's long data and its error, giving
// back what the data was charged.
func (ps *preparedStmts) resetLongData(st *preparedStmt) {
	if st.longDataSize > 0 && ps.budget != nil {
		ps.budget.Release(int64(st.longDataSize))
	}
	st.longData, st.longDataSize, st.longDataErr = nil, 0, nil
}

func errUnknownStmt(id uint32, cmd string) error {
	return sqlerr.New(sqlerr.ERUnknownStmtHandler, "Unknown prepared statement handler (%d) given to %s", id, cmd)
}

// handlePrepare answers COM_STMT_PREPARE.
func (cc *clientConn) handlePrepare(ctx context.Context, sql string) error {
	if err := cc.checkClientText(sql); err != nil {
		return cc.writeError(err)
	}
	if cc.s.Shard != "" {
		return cc.writeError(sqlerr.NotSupported("prepared statements in a session targeting one shard (USE ks:shard)"))
	}
	var plan *router.Plan
	var err error
	var sp *controlStmt
	if cs, ok := savepointControl(sql); ok {
		sp = &cs
		plan = &router.Plan{Kind: router.PlanSession}
	} else {
		if err = cc.checkNames(sql); err != nil {
			return cc.writeError(err)
		}
		if sql, err = invokerRights(sql); err == nil {
			plan, _, err = cc.g.router.PlanAt(sql, cc.s.Keyspace, cc.s.TabletType, cc.s.ParseMode)
			plan, _, err = cc.g.planLearning(ctx, sql, cc.s.Keyspace, cc.s.TabletType, cc.s.ParseMode, plan, nil, err)
			plan, _, err = cc.forAccount(sql, plan, nil, err)
		}
	}
	if err != nil {
		return cc.writeError(err)
	}
	st := &preparedStmt{sql: sql, numParams: len(plan.Params), savepoint: sp}
	var columns []*querypb.Field
	if plan.Kind == router.PlanRoute {
		if err := cc.checkPlanAccess(plan, sql); err != nil {
			return cc.writeError(err)
		}
		qctx, done := cc.queryContext(ctx, nil, "Prepare", sql)
		columns, err = cc.resultColumns(qctx, plan, sql)
		err = interrupted(qctx, err)
		done()
		if err != nil {
			return cc.writeError(err)
		}
	}
	if err := cc.stmts.add(st); err != nil {
		return cc.writeError(err)
	}
	if cc.extCapability&extCacheMetadata != 0 {
		st.columns.Sent = mysqlsrv.AppendColumnDefs(nil, columns)
	}
	b := []byte{0x00}
	b = binary.LittleEndian.AppendUint32(b, st.id)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(columns)))
	b = binary.LittleEndian.AppendUint16(b, uint16(st.numParams))
	b = append(b, 0, 0, 0) // reserved, warning count
	if err := cc.pw.WritePacket(b); err != nil {
		return err
	}
	if st.numParams > 0 {
		param := &querypb.Field{Name: "?", Type: 253, Charset: 63, Flags: 128}
		for range st.numParams {
			if err := cc.pw.WritePacket(mysqlsrv.AppendColumnDef(cc.pw.Buf[:0], param)); err != nil {
				return err
			}
		}
		if err := cc.pw.WriteEOF(cc.status(), 0); err != nil {
			return err
		}
	}
	if len(columns) > 0 {
		for _, f := range columns {
			if err := cc.pw.WritePacket(mysqlsrv.AppendColumnDef(cc.pw.Buf[:0], f)); err != nil {
				return err
			}
		}
		return cc.pw.WriteEOF(cc.status(), 0)
	}
	return nil
}

// resultColumns returns the columns a prepared SELECT will return, which
// clients expect at prepare time: the statement runs once with LIMIT 0
// and every parameter NULL, outside the session's transaction. Other
// statements return no columns.
func (cc *clientConn) resultColumns(ctx context.Context, plan *router.Plan, sql string) ([]*querypb.Field, error) {
	var limited ast.StmtNode
	switch st := plan.Stmt.(type) {
	case *ast.SelectStmt:
		if st.SelectIntoOpt != nil {
			return nil, nil
		}
		fresh, err := cc.g.router.Parse(sql, cc.s.ParseMode)
		if err != nil {
			return nil, err
		}
		s, ok := fresh.(*ast.SelectStmt)
		if !ok {
			return nil, nil
		}
		router.AliasFields(s)
		s.Limit = &ast.Limit{Count: ast.NewValueExpr(0, "", "")}
		s.LockInfo = nil
		limited = s
	case *ast.SetOprStmt:
		fresh, err := cc.g.router.Parse(sql, cc.s.ParseMode)
		if err != nil {
			return nil, err
		}
		s, ok := fresh.(*ast.SetOprStmt)
		if !ok {
			return nil, nil
		}
		s.Limit = &ast.Limit{Count: ast.NewValueExpr(0, "", "")}
		limited = s
	default:
		return nil, nil
	}
	var sb strings.Builder
	if err := limited.Restore(format.NewRestoreCtx(cc.s.ParseMode.RestoreFlags(), &sb)); err != nil {
		return nil, sqlerr.Wrap(sqlerr.ERUnknown, err, "restore statement: %v", err)
	}
	for attempt := 0; ; attempt++ {
		lplan, lbv, err := cc.g.router.PlanAt(sb.String(), cc.s.Keyspace, cc.s.TabletType, cc.s.ParseMode)
		if err != nil || lplan.Kind != router.PlanRoute {
			return nil, err
		}
		bv, err := lplan.Bind(lbv, make([]any, len(lplan.Params)))
		if err != nil {
			return nil, err
		}
		bv = cc.s.bindSession(lplan, bv)
		res, err := lplan.Execute(ctx, autocommitExecutor{&sessionExecutor{gw: cc.g.gw, s: cc.s}}, bv)
		if switchedAgain(err, attempt) {
			continue // a keyspace switched its traffic: plan it again
		}
		if err != nil {
			return nil, err
		}
		return res.Fields, nil
	}
}

// autocommitExecutor runs everything outside the session's transaction
// and outside its lock sessions, on pooled connections: it learns result
// metadata (a statement with LIMIT 0 and NULL parameters takes no lock,
// and the tablet resets a connection a lock function ran on).
type autocommitExecutor struct{ e *sessionExecutor }

func (a autocommitExecutor) Execute(ctx context.Context, qs []router.ShardQuery) ([]*querypb.QueryResult, error) {
	return a.e.ExecuteAutocommit(ctx, withoutLock(qs))
}

func (a autocommitExecutor) ExecuteAutocommit(ctx context.Context, qs []router.ShardQuery) ([]*querypb.QueryResult, error) {
	return a.e.ExecuteAutocommit(ctx, withoutLock(qs))
}

// withoutLock returns qs with Lock cleared.
func withoutLock(qs []router.ShardQuery) []router.ShardQuery {
	if !lockQuery(qs) {
		return qs
	}
	out := slices.Clone(qs)
	out[0].Lock = false
	return out
}

func (a autocommitExecutor) Stream(ctx context.Context, qs []router.ShardQuery, cb func(int, *querypb.QueryResult) error) error {
	res, err := a.e.ExecuteAutocommit(ctx, withoutLock(qs))
	if err != nil {
		return err
	}
	for i, r := range res {
		if err := cb(i, r); err != nil {
			return err
		}
	}
	return nil
}

// handleExecute answers COM_STMT_EXECUTE.
func (cc *clientConn) handleExecute(ctx context.Context, data []byte) error {
	start := time.Now()
	if len(data) < mysqlsrv.ExecuteHeaderLen {
		// As mysqld: checked before the statement is looked up.
		return cc.writeError(mysqlsrv.ErrMalformed("COM_STMT_EXECUTE"))
	}
	id, _ := mysqlsrv.StmtIDOf(data)
	st := cc.stmts.get(id)
	if st == nil {
		return cc.writeError(errUnknownStmt(id, "mysqld_stmt_execute"))
	}
	defer cc.stmts.resetLongData(st)
	args, err := st.bindArgs(data)
	if err == nil {
		err = cc.checkClientArgs(args)
	}
	if err != nil {
		return cc.writeError(err)
	}
	if cc.s.Shard != "" {
		return cc.writeError(sqlerr.NotSupported("prepared statements in a session targeting one shard (USE ks:shard)"))
	}
	var plan *router.Plan
	var bv router.BindVars
	if st.savepoint != nil {
		plan = &router.Plan{Kind: router.PlanSession, StmtType: "SAVEPOINT", Type: "Session"}
		if st.savepoint.kind == ctlRollback {
			plan.StmtType = "ROLLBACK"
		}
	} else {
		plan, bv, err = cc.g.router.PlanAt(st.sql, cc.s.Keyspace, cc.s.TabletType, cc.s.ParseMode)
		plan, bv, err = cc.g.planLearning(ctx, st.sql, cc.s.Keyspace, cc.s.TabletType, cc.s.ParseMode, plan, bv, err)
		plan, bv, err = cc.forAccount(st.sql, plan, bv, err)
		if err != nil {
			return cc.writeError(err)
		}
	}
	qctx, done := cc.queryContext(ctx, plan.Stmt, "Execute", st.sql)
	defer done()
	info := &stmtInfo{stmtType: plan.StmtType, planType: plan.Type}
	if _, call := plan.Stmt.(*ast.CallStmt); !call {
		info.columns = &st.columns
	}
	cc.stmt = info
	cc.s.startStatement()
	cc.binaryRows = true
	for attempt := 0; ; attempt++ {
		err = cc.executePrepared(qctx, st, plan, bv, args, info)
		if !switchedAgain(err, attempt) {
			break
		}
		// A keyspace switched its traffic meanwhile: plan it again.
		again, abv, perr := cc.g.router.PlanAt(st.sql, cc.s.Keyspace, cc.s.TabletType, cc.s.ParseMode)
		if again, abv, perr = cc.g.planLearning(qctx, st.sql, cc.s.Keyspace, cc.s.TabletType, cc.s.ParseMode, again, abv, perr); perr != nil {
			err = perr
			break
		}
		plan, bv = again, abv
	}
	err = interrupted(qctx, err)
	cc.binaryRows = false
	if err != nil {
		err = cc.afterError(err)
	}
	if err == nil && info.streamErr != nil {
		// Written already, ending a result set under way.
		cc.finishStatement(info, info.streamErr)
		cc.g.m.observe(&cc.observed, cc.s, plan.StmtType, plan.Type, start, info.streamErr)
		recordPlan(info.stats, cc.s, start, info.streamErr)
		return nil
	}
	cc.finishStatement(info, err)
	cc.g.m.observe(&cc.observed, cc.s, plan.StmtType, plan.Type, start, err)
	recordPlan(info.stats, cc.s, start, err)
	if err != nil {
		return cc.pw.WriteError(err)
	}
	return nil
}

func (cc *clientConn) executePrepared(ctx context.Context, st *preparedStmt, plan *router.Plan, bv router.BindVars, args []any, info *stmtInfo) error {
	if plan.Kind == router.PlanSession {
		if len(args) > 0 {
			return sqlerr.NotSupported("parameters in %s statements", plan.StmtType)
		}
		if st.savepoint != nil {
			return cc.control(ctx, *st.savepoint, info)
		}
		return cc.session(ctx, plan.Stmt, st.sql, info)
	}
	if err := cc.checkPlanAccess(plan, st.sql); err != nil {
		return err
	}
	if _, ok := plan.Stmt.(*ast.CallStmt); ok {
		callPlan, callBV, rest, out, undo, err := cc.planCallOut(ctx, st.sql, args)
		if err != nil {
			return err
		}
		if out != nil {
			defer undo()
			plan, bv, args = callPlan, callBV, rest
			info.callOut = out
		}
	}
	bound, err := plan.Bind(bv, args)
	if err != nil {
		return err
	}
	// runPlan binds the session's values (LAST_INSERT_ID() and the like).
	return cc.runPlan(ctx, plan, bound, info)
}

// bindArgs parses the parameters of one execution.
func (st *preparedStmt) bindArgs(data []byte) ([]any, error) {
	if st.longDataErr != nil {
		return nil, st.longDataErr
	}
	req, err := mysqlsrv.ParseExecuteHeader(data, st.numParams)
	if err != nil {
		return nil, err
	}
	if st.numParams == 0 {
		return nil, nil
	}
	if req.Types != nil {
		st.types = req.Types
	}
	if st.types == nil {
		return nil, sqlerr.Wrap(sqlerr.ERWrongArguments, mysqlsrv.ErrExecuteArgs, "Incorrect arguments to mysqld_stmt_execute: no parameter types bound")
	}
	args, err := mysqlsrv.DecodeParams(st.types, req.Nulls, req.Values, st.longData)
	if err != nil {
		return nil, sqlerr.Wrap(sqlerr.ERWrongArguments, err, "Incorrect arguments to mysqld_stmt_execute: %v", err)
	}
	return args, nil
}

// handleSendLongData takes COM_STMT_SEND_LONG_DATA, which has no response.
func (cc *clientConn) handleSendLongData(data []byte) {
	if len(data) < 6 {
		return
	}
	st := cc.stmts.get(binary.LittleEndian.Uint32(data))
	if st == nil || st.longDataErr != nil {
		// After an error the rest is dropped until the execution that
		// reports it.
		return
	}
	param := int(binary.LittleEndian.Uint16(data[4:]))
	fail := func(err error) {
		cc.stmts.resetLongData(st)
		st.longDataErr = err
	}
	if param >= st.numParams {
		fail(sqlerr.New(sqlerr.ERWrongArguments, "Incorrect arguments to mysqld_stmt_send_long_data: parameter %d of %d", param, st.numParams))
		return
	}
	// mysqld bounds each parameter by max_allowed_packet; the gate bounds
	// all of them together, since they go to the shard in one statement
	// that must fit in its max_allowed_packet, and since the gate holds
	// them until the execution.
	n := len(data) - 6
	if st.longDataSize+n > cc.g.cfg.MaxAllowedPacket {
		fail(sqlerr.New(sqlerr.ERNetPacketTooLarge, "Parameter of prepared statement which is set through mysql_send_long_data() is longer than 'max_allowed_packet' bytes"))
		return
	}
	if b := cc.stmts.budget; b != nil {
		if err := b.Acquire(int64(n)); err != nil {
			fail(err)
			return
		}
	}
	if st.longData == nil {
		st.longData = map[int][]byte{}
	}
	st.longDataSize += n
	st.longData[param] = append(st.longData[param], data[6:]...)
}

// handleStmtReset answers COM_STMT_RESET: long data is dropped.
func (cc *clientConn) handleStmtReset(data []byte) error {
	id, ok := mysqlsrv.StmtIDOf(data)
	if !ok {
		return cc.writeError(mysqlsrv.ErrMalformed("COM_STMT_RESET"))
	}
	st := cc.stmts.get(id)
	if st == nil {
		return cc.writeError(errUnknownStmt(id, "mysqld_stmt_reset"))
	}
	cc.stmts.resetLongData(st)
	return cc.writeOK(0, 0)
}

// handleFetch answers COM_STMT_FETCH. The gate opens no cursors: a fetch
// for a statement it knows is refused as unsupported, and one for an
// unknown statement gets mysqld's 1243.
func (cc *clientConn) handleFetch(data []byte) error {
	if len(data) < 8 {
		return cc.writeError(mysqlsrv.ErrMalformed("COM_STMT_FETCH"))
	}
	id, _ := mysqlsrv.StmtIDOf(data)
	if cc.stmts.get(id) == nil {
		return cc.writeError(errUnknownStmt(id, "mysqld_stmt_fetch"))
	}
	return cc.writeError(sqlerr.NotSupported("cursors (COM_STMT_FETCH)"))
}

// handleStmtClose takes COM_STMT_CLOSE, which has no response.
func (cc *clientConn) handleStmtClose(data []byte) {
	if id, ok := mysqlsrv.StmtIDOf(data); ok {
		cc.stmts.close(id)
	}
}
