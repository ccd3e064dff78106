package proxy

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/opcode"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proxy/mysqlsrv"
	"github.com/mosaicdb/mosaic/router"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// handleQuery runs one COM_QUERY and writes its response.
func (cc *clientConn) handleQuery(ctx context.Context, sql string) error {
	start := time.Now()
	early := cc.planEarly(sql)
	qctx, done := cc.queryContext(ctx, early.stmt(), "Query", sql)
	defer done()
	cc.stmtBuf = stmtInfo{stmtType: "OTHER", planType: "Session"}
	st := &cc.stmtBuf
	cc.stmt = st
	cc.s.startStatement()
	err := interrupted(qctx, cc.execute(qctx, sql, &early, st))
	if err != nil {
		err = cc.afterError(err)
	}
	if err == nil && st.streamErr != nil {
		// Written already, ending a result set under way.
		cc.finishStatement(st, st.streamErr)
		cc.g.m.observe(&cc.observed, cc.s, st.stmtType, st.planType, start, st.streamErr)
		recordPlan(st.stats, cc.s, start, st.streamErr)
		return nil
	}
	cc.finishStatement(st, err)
	cc.g.m.observe(&cc.observed, cc.s, st.stmtType, st.planType, start, err)
	recordPlan(st.stats, cc.s, start, err)
	if err != nil {
		return cc.pw.WriteError(err)
	}
	return nil
}

// afterError ends the client's transaction when a shard's transaction is
// gone (rolled back for idling, by a deadlock, or with its connection):
// what is left of it on other shards is rolled back too, so the client
// never commits half a transaction. An interrupted statement (KILL QUERY,
// a time limit) ends it too: the tablet drops a connection whose
// statement it killed. When a shard transaction was lost during the
// statement (stmtatomic.go), the client sees why.
func (cc *clientConn) afterError(err error) error {
	s := cc.s
	cc.g.deadlocks.note(cc, err)
	if !s.InTransaction {
		return err
	}
	lost := err
	switch sqlerr.FromError(err).Num {
	case sqlerr.ERQueryInterrupted, sqlerr.ERQueryTimeout, sqlerr.ERStatementTimeout:
	default:
		if !sqlerr.IsTxEnded(err) {
			if lost = s.txLost(); lost == nil {
				return err
			}
		}
	}
	rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if rerr := s.Rollback(rctx); rerr != nil {
		cc.log.Warn("rollback after a lost shard transaction failed", "err", rerr)
	}
	return txLostError(lost)
}

// execute plans and runs sql, writing the result; early is the plan
// planEarly made for it. An error it returns has not been written yet;
// the caller writes it.
func (cc *clientConn) execute(ctx context.Context, sql string, early *earlyPlan, st *stmtInfo) error {
	if target, ok := useStatement(sql); ok {
		st.stmtType = "USE"
		if err := cc.use(ctx, target); err != nil {
			return err
		}
		return cc.writeOK(0, 0)
	}
	if cs, ok := parseControl(sql); ok {
		return cc.control(ctx, cs, st)
	}
	// Views and stored routines run with their caller's rights.
	sql, err := invokerRights(sql)
	if err != nil {
		return err
	}
	// Before planning, which would answer a name of _mosaic with "no
	// such keyspace" rather than mysqld's refusal.
	if err := cc.checkNames(sql); err != nil {
		return err
	}
	if cc.s.Shard != "" {
		// `USE ks:shard` sends every statement, unchanged, to that shard.
		st.stmtType, st.planType = "OTHER", "Shard"
		plan, bv, err := cc.g.router.PlanAt(sql, cc.s.Keyspace, cc.s.TabletType, cc.s.ParseMode)
		if err == nil && plan.Kind == router.PlanSession {
			st.stmtType, st.planType = plan.StmtType, plan.Type
			return cc.session(ctx, plan.Stmt, sql, st)
		}
		if errors.Is(err, router.ErrConnState) {
			return err
		}
		if err == nil && plan.Type == "Lock" {
			// Locks go to the keyspace's lock session, whatever shard
			// the session targets: every session must take them on the
			// same mysqld.
			st.stmtType, st.planType = plan.StmtType, plan.Type
			if err := cc.checkPlanAccess(plan, sql); err != nil {
				return err
			}
			return cc.runPlan(ctx, plan, bv, st)
		}
		if err := cc.checkShardTargetedAccess(plan, sql); err != nil {
			return err
		}
		if err := cc.checkTargetServes(plan); err != nil {
			return err
		}
		if call, ok := cc.shardCall(plan, err, sql); ok {
			return cc.runShardCall(ctx, call, sql)
		}
		if plan == nil || plan.StmtType == "DDL" {
			// It may change a table's columns on this shard.
			defer cc.g.forgetColumns(cc.s.Keyspace)
		}
		return cc.runShardTargeted(ctx, sql, st)
	}
	plan, bv, err := cc.plan(ctx, sql, early)
	if err != nil {
		st.stmtType, st.planType = "OTHER", "Error"
		return err
	}
	st.stmtType, st.planType = plan.StmtType, plan.Type
	if plan.Kind == router.PlanSession {
		return cc.session(ctx, plan.Stmt, sql, st)
	}
	if err := cc.checkPlanAccess(plan, sql); err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		err := cc.runPlan(ctx, plan, bv, st)
		if !switchedAgain(err, attempt) {
			return err
		}
		// A keyspace switched its traffic meanwhile: plan it again.
		if plan, bv, err = cc.plan(ctx, sql, nil); err != nil {
			return err
		}
	}
}

// runPlan runs a routed plan: statements that may return rows stream them
// to the client, the others answer with an OK packet.
func (cc *clientConn) runPlan(ctx context.Context, plan *router.Plan, bv router.BindVars, st *stmtInfo) error {
	s := cc.s
	st.usesTables = plan.UsesTables
	s.setWriting(!plan.ReadOnly)
	s.beginImplicit(st.usesTables)
	bv = s.bindSession(plan, bv)
	run := &cc.run
	run.exec = sessionExecutor{gw: cc.g.gw, s: s, stats: plan.Stats}
	exec := &run.exec
	st.stats = plan.Stats
	if ld, ok := plan.Primitive.(*router.LoadData); ok {
		return cc.runLoadData(ctx, ld)
	}
	switch stmt := plan.Stmt.(type) {
	case *ast.CallStmt:
		return cc.runCall(ctx, stmt, exec, st.callOut, func(ex *sessionExecutor) (*querypb.QueryResult, error) {
			return plan.Execute(ctx, ex, bv)
		})
	case *ast.SelectStmt:
		if stmt.SelectStmtOpts != nil && stmt.SelectStmtOpts.CalcFoundRows {
			return cc.runCalcFoundRows(ctx, plan, bv)
		}
	case *ast.ShowStmt:
		if stmt.Tp == ast.ShowVariables && !stmt.GlobalScope {
			return cc.runShowVariables(ctx, plan, bv, exec)
		}
	}
	switch plan.StmtType {
	case "INSERT", "UPDATE", "DELETE", "DDL", "SET":
		res, err := plan.Execute(ctx, exec, bv)
		if plan.StmtType == "DDL" {
			// Failed or not, the DDL may have changed tables on some
			// shards.
			cc.g.forgetColumns(plan.Keyspace())
		}
		if err != nil {
			return err
		}
		if len(res.Fields) > 0 && plan.StmtType != "SET" && plan.StmtType != "DDL" {
			return cc.writeReturningResult(res)
		}
		return cc.writeResult(res)
	}
	run.rs = resultStreamer{cc: cc}
	if run.chunk == nil {
		run.chunk = run.rs.chunk
	}
	if err := plan.Stream(ctx, exec, bv, run.chunk); err != nil {
		return run.rs.fail(err)
	}
	return run.rs.finish()
}

// planRun holds what runPlan needs for one statement. A connection keeps
// one and reuses it, as it runs one statement at a time and nothing
// keeps these past the statement: three allocations a statement fewer.
type planRun struct {
	exec sessionExecutor
	rs   resultStreamer
	// chunk is rs.chunk, made once.
	chunk func(*querypb.QueryResult) error
}

func (cc *clientConn) runShardTargeted(ctx context.Context, sql string, st *stmtInfo) error {
	st.usesTables = true
	cc.s.setWriting(true)
	cc.s.beginImplicit(true)
	exec := &sessionExecutor{gw: cc.g.gw, s: cc.s}
	rs := &resultStreamer{cc: cc}
	q := []router.ShardQuery{{Keyspace: cc.s.Keyspace, Shard: cc.s.Shard, SQL: sql}}
	if err := exec.Stream(ctx, q, func(_ int, r *querypb.QueryResult) error { return rs.chunk(r) }); err != nil {
		return rs.fail(err)
	}
	return rs.finish()
}

// shardCall returns the CALL statement sql is, if it is, for a session
// targeting one shard: from its plan, or parsed on its own when the
// router refused to plan it (a CALL on a sharded keyspace).
func (cc *clientConn) shardCall(plan *router.Plan, err error, sql string) (*ast.CallStmt, bool) {
	if err == nil && plan != nil {
		call, ok := plan.Stmt.(*ast.CallStmt)
		return call, ok
	}
	if f := strings.Fields(sql); len(f) == 0 || !strings.EqualFold(f[0], "call") {
		return nil, false
	}
	stmt, perr := cc.g.router.Parse(sql, cc.s.ParseMode)
	if perr != nil {
		return nil, false
	}
	call, ok := stmt.(*ast.CallStmt)
	return call, ok
}

// runShardCall runs a CALL on the shard a `USE ks:shard` session targets.
func (cc *clientConn) runShardCall(ctx context.Context, call *ast.CallStmt, sql string) error {
	cc.s.setWriting(true)
	cc.s.beginImplicit(true)
	exec := &sessionExecutor{gw: cc.g.gw, s: cc.s}
	q := []router.ShardQuery{{Keyspace: cc.s.Keyspace, Shard: cc.s.Shard, SQL: sql}}
	return cc.runCall(ctx, call, exec, nil, func(ex *sessionExecutor) (*querypb.QueryResult, error) {
		res, err := ex.Execute(ctx, q)
		if err != nil {
			return nil, err
		}
		return res[0], nil
	})
}

// writeFields writes the start of a result set: the column count, the
// column definitions and their EOF. A prepared statement's result set to a
// client with MARIADB_CLIENT_CACHE_METADATA goes without the definitions
// when the client holds the same ones (stmtInfo.columns), as from MariaDB:
// a statement whose columns changed (ALTER TABLE, a parameter of another
// type) sends them again.
func (cc *clientConn) writeFields(fields []*querypb.Field, status uint16) error {
	if cc.binaryRows && cc.extCapability&extCacheMetadata != 0 {
		var cache *mysqlsrv.ColumnCache
		if cc.stmt != nil {
			cache = cc.stmt.columns
		}
		return cc.pw.WriteFieldsCached(fields, status, cache)
	}
	return cc.pw.WriteFields(fields, status)
}

// writeResult writes a whole result: a result set or an OK packet.
func (cc *clientConn) writeResult(res *querypb.QueryResult) error {
	if len(res.Fields) == 0 {
		if res.InsertId != 0 {
			cc.s.LastInsertID = res.InsertId
		}
		cc.s.RowCount = int64(res.RowsAffected)
		return cc.pw.WriteOK(res.RowsAffected, res.InsertId, cc.status(), uint16(res.Warnings), res.Info)
	}
	return cc.writeRowsResult(res, false)
}

// writeReturningResult writes the rows of INSERT, REPLACE or DELETE ...
// RETURNING. As mysqld does, it sets LAST_INSERT_ID() when the statement
// generated an id and ROW_COUNT() to -1, and leaves FOUND_ROWS() alone.
func (cc *clientConn) writeReturningResult(res *querypb.QueryResult) error {
	if res.InsertId != 0 {
		cc.s.LastInsertID = res.InsertId
	}
	return cc.writeRowsResult(res, true)
}

// writeRowsResult writes a result set. FOUND_ROWS() becomes its row count
// unless it answers a diagnostic statement (SHOW WARNINGS).
func (cc *clientConn) writeRowsResult(res *querypb.QueryResult, diagnostic bool) error {
	cc.s.RowCount = -1
	if !diagnostic {
		cc.s.FoundRows = uint64(len(res.Rows))
	}
	if err := cc.writeFields(res.Fields, cc.status()); err != nil {
		return err
	}
	if err := cc.writeRows(res.Fields, res.Rows); err != nil {
		return err
	}
	return cc.pw.WriteEOF(cc.status(), uint16(res.Warnings))
}

// resultStreamer writes a streamed result as its chunks arrive.
type resultStreamer struct {
	cc           *clientConn
	fieldsSent   bool
	fields       []*querypb.Field
	rows         uint64
	rowsAffected uint64
	insertID     uint64
	warnings     uint32
	info         string
	writeErr     error
}

func (r *resultStreamer) chunk(qr *querypb.QueryResult) error {
	if !r.fieldsSent && len(qr.Fields) > 0 {
		if err := r.cc.writeFields(qr.Fields, r.cc.status()); err != nil {
			r.writeErr = err
			return err
		}
		r.fieldsSent = true
		r.fields = qr.Fields
	}
	if r.fieldsSent {
		if err := r.cc.writeRows(r.fields, qr.Rows); err != nil {
			r.writeErr = err
			return err
		}
		r.rows += uint64(len(qr.Rows))
	}
	r.rowsAffected += qr.RowsAffected
	if qr.InsertId != 0 {
		r.insertID = qr.InsertId
	}
	r.warnings += qr.Warnings
	if qr.Info != "" {
		r.info = qr.Info
	}
	return nil
}

// fail reports an error: as the response if nothing was written, or as an
// ERR packet ending a result set already under way.
func (r *resultStreamer) fail(err error) error {
	if r.writeErr != nil {
		return r.writeErr
	}
	if !r.fieldsSent {
		return err
	}
	// The error packet ends the result set; the connection goes on.
	err = r.cc.afterError(err)
	if r.cc.stmt != nil {
		r.cc.stmt.streamErr = err
	}
	return r.cc.writeError(err)
}

func (r *resultStreamer) finish() error {
	s := r.cc.s
	if !r.fieldsSent {
		if r.insertID != 0 {
			s.LastInsertID = r.insertID
		}
		s.RowCount = int64(r.rowsAffected)
		return r.cc.pw.WriteOK(r.rowsAffected, r.insertID, r.cc.status(), uint16(r.warnings), r.info)
	}
	s.RowCount = -1
	s.FoundRows = r.rows
	return r.cc.pw.WriteEOF(r.cc.status(), uint16(r.warnings))
}

// session carries out a statement that changes the session.
func (cc *clientConn) session(ctx context.Context, stmt ast.StmtNode, sql string, st *stmtInfo) error {
	switch x := stmt.(type) {
	case *ast.BeginStmt:
		return cc.control(ctx, controlStmt{kind: ctlBegin, chars: txCharacteristics{readOnly: x.ReadOnly}}, st)
	case *ast.CommitStmt:
		return cc.control(ctx, controlStmt{kind: ctlCommit}, st)
	case *ast.RollbackStmt:
		return cc.control(ctx, controlStmt{kind: ctlRollback, toSavepoint: x.SavepointName != "", savepoint: x.SavepointName}, st)
	case *ast.SavepointStmt:
		return cc.control(ctx, controlStmt{kind: ctlSavepoint, savepoint: x.Name}, st)
	case *ast.ReleaseSavepointStmt:
		return cc.control(ctx, controlStmt{kind: ctlRelease, savepoint: x.Name}, st)
	case *ast.UseStmt:
		if err := cc.use(ctx, x.DBName); err != nil {
			return err
		}
		return cc.writeOK(0, 0)
	case *ast.SetStmt:
		if err := cc.set(ctx, x); err != nil {
			return err
		}
		return cc.writeOK(0, 0)
	case *ast.ShowStmt:
		switch x.Tp {
		case ast.ShowDatabases:
			st.usesTables = true
			return cc.showDatabases(x)
		case ast.ShowProcessList:
			return cc.showProcessList(x.Full)
		case ast.ShowGrants:
			return cc.showGrants(x)
		case ast.ShowWarnings, ast.ShowErrors:
			st.diagnostic = true
			offset, limit := 0, -1
			if x.Limit != nil {
				// The parser takes LIMIT n only; LIMIT m, n goes through
				// parseControl.
				limit = limitValue(x.Limit.Count)
			}
			return cc.showWarnings(x.Tp == ast.ShowErrors, x.CountWarningsOrErrors, offset, limit)
		}
	case *ast.KillStmt:
		return cc.kill(x)
	case *ast.LockTablesStmt, *ast.UnlockTablesStmt:
		return cc.ignoreTableLock(x)
	case *ast.CreateDatabaseStmt:
		return cc.createDatabase(x)
	case *ast.DropDatabaseStmt:
		return cc.dropDatabase(x)
	}
	return sqlerr.NotSupported("the statement %q", sql)
}

// control carries out transaction statements and SHOW WARNINGS.
func (cc *clientConn) control(ctx context.Context, cs controlStmt, st *stmtInfo) error {
	s := cc.s
	switch cs.kind {
	case ctlBegin:
		st.stmtType = "BEGIN"
		if s.InTransaction {
			// BEGIN commits the open transaction, as in MySQL.
			if err := cc.g.commit(ctx, s); err != nil {
				return err
			}
		}
		s.beginTx(cs.chars)
		return cc.writeOK(0, 0)
	case ctlCommit:
		st.stmtType = "COMMIT"
		if s.InTransaction {
			if err := cc.g.commit(ctx, s); err != nil {
				return err
			}
		}
		return cc.writeOK(0, 0)
	case ctlRollback:
		st.stmtType = "ROLLBACK"
		if cs.toSavepoint {
			return cc.savepoint(ctx, cs)
		}
		if err := s.Rollback(ctx); err != nil {
			return err
		}
		return cc.writeOK(0, 0)
	case ctlSetTx:
		st.stmtType = "SET"
		if err := cc.setTransaction(ctx, cs); err != nil {
			return err
		}
		return cc.writeOK(0, 0)
	case ctlShowWarnings, ctlShowErrors:
		st.stmtType, st.diagnostic = "SHOW", true
		return cc.showWarnings(cs.kind == ctlShowErrors, cs.count, cs.offset, cs.limit)
	case ctlXA:
		return sqlerr.NotSupported("XA statements through the gate (SET transaction_mode = 'twopc' commits across shards atomically)")
	case ctlSavepoint, ctlRelease:
		st.stmtType = "SAVEPOINT"
		return cc.savepoint(ctx, cs)
	}
	return sqlerr.NotSupported("this statement")
}

// setTransaction carries out SET [SESSION] TRANSACTION.
func (cc *clientConn) setTransaction(ctx context.Context, cs controlStmt) error {
	s := cc.s
	switch cs.scope {
	case "global":
		return sqlerr.NotSupported("SET GLOBAL through the gate; set it on the tablets")
	case "":
		// The next transaction only.
		if s.InTransaction {
			return sqlerr.New(sqlerr.ERCantChangeTxCharacteristics, "Transaction characteristics can't be changed while a transaction is in progress")
		}
		if cs.chars.isolation != "" {
			s.nextTx.isolation = cs.chars.isolation
		}
		if cs.chars.readOnly {
			s.nextTx.readOnly = true
		}
		if cs.readWrite {
			s.nextTx.readOnly = false
		}
		return nil
	}
	list := s.Settings()
	before := list
	if cs.chars.isolation != "" {
		list = withSetting(list, "tx_isolation", "SET SESSION TRANSACTION ISOLATION LEVEL "+cs.chars.isolation)
	}
	if cs.chars.readOnly || cs.readWrite {
		list = withSetting(list, "tx_read_only", readOnlySetting(cs.chars.readOnly))
	}
	if s.InTransaction {
		if err := cc.applyInTransaction(ctx, before, list); err != nil {
			return err
		}
	}
	s.SetSettings(list)
	return nil
}

func limitValue(e ast.ExprNode) int {
	text, err := wordValue(e)
	if err != nil {
		return -1
	}
	n := 0
	for _, c := range text {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

func (cc *clientConn) showDatabases(x *ast.ShowStmt) error {
	// information_schema first, as mysqld lists it; then the keyspaces.
	names := append([]string{"information_schema"}, cc.g.router.VSchema().KeyspaceNames()...)
	col := "Database"
	keep := func(string) (bool, error) { return true, nil }
	switch {
	case x.Pattern != nil:
		p, ok := stringLiteral(x.Pattern.Pattern)
		if !ok || x.Pattern.Not {
			return sqlerr.NotSupported("SHOW DATABASES with this LIKE")
		}
		// Database names compare case-sensitively, as mysqld's on Linux.
		col = "Database (" + p + ")"
		keep = func(n string) (bool, error) { return likeMatch(n, p), nil }
	case x.Where != nil:
		keep = func(n string) (bool, error) { return databaseWhere(x.Where, n) }
	}
	res := &querypb.QueryResult{Fields: []*querypb.Field{{Name: col, OrgName: "SCHEMA_NAME", Table: "SCHEMATA", Type: 253, Charset: 33, ColumnLength: 256}}}
	for _, n := range names {
		if cc.acct != nil && !router.IsInformationSchema(n) && !cc.acct.mayUseKeyspace(n) {
			// As mysqld lists only the databases an account has rights on.
			continue
		}
		ok, err := keep(n)
		if err != nil {
			return err
		}
		if ok {
			res.Rows = append(res.Rows, mysqlsrv.AppendLenEncString(nil, n))
		}
	}
	return cc.writeResult(res)
}

// databaseWhere evaluates the WHERE of a SHOW DATABASES for one name: the
// forms tools send (`Database` compared with =, <>, LIKE or IN, joined by
// AND, OR and NOT).
func databaseWhere(e ast.ExprNode, name string) (bool, error) {
	isCol := func(e ast.ExprNode) bool {
		c, ok := e.(*ast.ColumnNameExpr)
		return ok && c.Name.Name.L == "database"
	}
	switch x := e.(type) {
	case *ast.ParenthesesExpr:
		return databaseWhere(x.Expr, name)
	case *ast.UnaryOperationExpr:
		if x.Op == opcode.Not || x.Op == opcode.Not2 {
			v, err := databaseWhere(x.V, name)
			return !v, err
		}
	case *ast.BinaryOperationExpr:
		switch x.Op {
		case opcode.LogicAnd, opcode.LogicOr:
			l, err := databaseWhere(x.L, name)
			if err != nil {
				return false, err
			}
			r, err := databaseWhere(x.R, name)
			if x.Op == opcode.LogicAnd {
				return l && r, err
			}
			return l || r, err
		case opcode.EQ, opcode.NE:
			lit, col := x.R, x.L
			if !isCol(col) {
				lit, col = x.L, x.R
			}
			if v, ok := stringLiteral(lit); ok && isCol(col) {
				return (v == name) == (x.Op == opcode.EQ), nil
			}
		}
	case *ast.PatternLikeOrIlikeExpr:
		if v, ok := stringLiteral(x.Pattern); ok && isCol(x.Expr) && x.IsLike {
			return likeMatch(name, v) != x.Not, nil
		}
	case *ast.PatternInExpr:
		if isCol(x.Expr) && x.Sel == nil {
			found := false
			for _, item := range x.List {
				v, ok := stringLiteral(item)
				if !ok {
					return false, sqlerr.NotSupported("SHOW DATABASES with this WHERE")
				}
				found = found || v == name
			}
			return found != x.Not, nil
		}
	}
	return false, sqlerr.NotSupported("SHOW DATABASES with this WHERE")
}

// stringLiteral is the value of a string literal.
func stringLiteral(e ast.ExprNode) (string, bool) {
	v, ok := e.(ast.ValueExpr)
	if !ok {
		return "", false
	}
	s, ok := v.GetValue().(string)
	return s, ok
}
