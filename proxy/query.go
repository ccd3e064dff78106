package proxy

import (
	"context"
	"strings"
	"time"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/format"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/router"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// handleQuery runs one COM_QUERY and writes its response.
func (cc *clientConn) handleQuery(ctx context.Context, sql string) error {
	start := time.Now()
	qctx, done := cc.queryContext(ctx, cc.peekStmt(sql))
	defer done()
	stmtType, planType := "USE", "Session"
	err := interrupted(qctx, cc.execute(qctx, sql, &stmtType, &planType))
	cc.g.m.observe(cc.s, stmtType, planType, start, err)
	if err != nil {
		return cc.pw.writeError(err)
	}
	return nil
}

// execute plans and runs sql, writing the result. An error it returns has
// not been written yet; the caller writes it.
func (cc *clientConn) execute(ctx context.Context, sql string, stmtType, planType *string) error {
	if target, ok := useStatement(sql); ok {
		if err := cc.use(ctx, target); err != nil {
			return err
		}
		return cc.writeOK(0, 0)
	}
	if cc.s.Shard != "" {
		// `USE ks:shard` sends every statement, unchanged, to that shard.
		*stmtType, *planType = "OTHER", "Shard"
		plan, _, err := cc.g.router.Plan(sql, cc.s.Keyspace)
		if err == nil && plan.Kind == router.PlanSession {
			*stmtType, *planType = plan.StmtType, plan.Type
			return cc.session(ctx, plan.Stmt, sql)
		}
		if err := cc.checkShardTargetedAccess(plan); err != nil {
			return err
		}
		return cc.runShardTargeted(ctx, sql)
	}
	plan, bv, err := cc.g.router.Plan(sql, cc.s.Keyspace)
	if err != nil {
		*stmtType, *planType = "OTHER", "Error"
		return err
	}
	*stmtType, *planType = plan.StmtType, plan.Type
	if plan.Kind == router.PlanSession {
		return cc.session(ctx, plan.Stmt, sql)
	}
	if err := cc.checkPlanAccess(plan); err != nil {
		return err
	}
	return cc.runPlan(ctx, plan, bv)
}

// beginImplicit opens the session's transaction when autocommit is off.
func (cc *clientConn) beginImplicit() {
	if !cc.s.Autocommit {
		cc.s.InTransaction = true
	}
}

// runPlan runs a routed plan: statements that may return rows stream them
// to the client, the others answer with an OK packet.
func (cc *clientConn) runPlan(ctx context.Context, plan *router.Plan, bv router.BindVars) error {
	cc.beginImplicit()
	exec := &sessionExecutor{gw: cc.g.gw, s: cc.s}
	switch plan.StmtType {
	case "INSERT", "UPDATE", "DELETE", "DDL", "SET":
		res, err := plan.Execute(ctx, exec, bv)
		if err != nil {
			return err
		}
		return cc.writeResult(res)
	}
	rs := &resultStreamer{cc: cc}
	if err := plan.Stream(ctx, exec, bv, rs.chunk); err != nil {
		return rs.fail(err)
	}
	return rs.finish()
}

func (cc *clientConn) runShardTargeted(ctx context.Context, sql string) error {
	cc.beginImplicit()
	exec := &sessionExecutor{gw: cc.g.gw, s: cc.s}
	rs := &resultStreamer{cc: cc}
	q := []router.ShardQuery{{Keyspace: cc.s.Keyspace, Shard: cc.s.Shard, SQL: sql}}
	if err := exec.Stream(ctx, q, func(_ int, r *querypb.QueryResult) error { return rs.chunk(r) }); err != nil {
		return rs.fail(err)
	}
	return rs.finish()
}

// writeResult writes a whole result: a result set or an OK packet.
func (cc *clientConn) writeResult(res *querypb.QueryResult) error {
	if res.InsertId != 0 {
		cc.s.LastInsertID = res.InsertId
	}
	if len(res.Fields) == 0 {
		return cc.pw.writeOK(res.RowsAffected, res.InsertId, cc.status(), uint16(res.Warnings), res.Info)
	}
	if err := cc.pw.writeFields(res.Fields, cc.status()); err != nil {
		return err
	}
	if err := cc.writeRows(res.Fields, res.Rows); err != nil {
		return err
	}
	return cc.pw.writeEOF(cc.status(), uint16(res.Warnings))
}

// resultStreamer writes a streamed result as its chunks arrive.
type resultStreamer struct {
	cc           *clientConn
	fieldsSent   bool
	fields       []*querypb.Field
	rowsAffected uint64
	insertID     uint64
	warnings     uint32
	info         string
	writeErr     error
}

func (r *resultStreamer) chunk(qr *querypb.QueryResult) error {
	if !r.fieldsSent && len(qr.Fields) > 0 {
		if err := r.cc.pw.writeFields(qr.Fields, r.cc.status()); err != nil {
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
	return r.cc.writeError(err)
}

func (r *resultStreamer) finish() error {
	if r.insertID != 0 {
		r.cc.s.LastInsertID = r.insertID
	}
	if !r.fieldsSent {
		return r.cc.pw.writeOK(r.rowsAffected, r.insertID, r.cc.status(), uint16(r.warnings), r.info)
	}
	return r.cc.pw.writeEOF(r.cc.status(), uint16(r.warnings))
}

// session carries out a statement that changes the session.
func (cc *clientConn) session(ctx context.Context, stmt ast.StmtNode, sql string) error {
	s := cc.s
	switch st := stmt.(type) {
	case *ast.BeginStmt:
		if s.InTransaction {
			if err := s.Commit(ctx); err != nil {
				return err
			}
		}
		s.InTransaction = true
		return cc.writeOK(0, 0)
	case *ast.CommitStmt:
		if err := s.Commit(ctx); err != nil {
			return err
		}
		return cc.writeOK(0, 0)
	case *ast.RollbackStmt:
		if st.SavepointName != "" {
			return sqlerr.NotSupported("ROLLBACK TO SAVEPOINT")
		}
		if err := s.Rollback(ctx); err != nil {
			return err
		}
		return cc.writeOK(0, 0)
	case *ast.UseStmt:
		if err := cc.use(ctx, st.DBName); err != nil {
			return err
		}
		return cc.writeOK(0, 0)
	case *ast.SetStmt:
		if err := cc.set(ctx, st); err != nil {
			return err
		}
		return cc.writeOK(0, 0)
	case *ast.ShowStmt:
		if st.Tp == ast.ShowDatabases {
			return cc.showDatabases()
		}
	case *ast.KillStmt:
		return cc.kill(st)
	}
	return sqlerr.NotSupported("the statement %q", sql)
}

// set applies SET statements: autocommit is the gate's own; every other
// variable becomes a session setting replayed on each tablet connection
// the session uses.
func (cc *clientConn) set(ctx context.Context, st *ast.SetStmt) error {
	for _, v := range st.Variables {
		name := strings.ToLower(v.Name)
		names := v.Name == ast.SetNames || v.Name == ast.SetCharset
		switch {
		case v.IsGlobal || v.IsInstance:
			return sqlerr.NotSupported("SET GLOBAL through the gate; set it on the tablets")
		case !v.IsSystem && !names:
			// A user variable: @name.
			cc.s.SetSetting("@"+name, restoreSet(v))
		case isStatementLimitVar(name):
			if err := cc.setStatementLimit(name, v.Value); err != nil {
				return err
			}
		case name == "autocommit":
			on, err := boolValue(v.Value)
			if err != nil {
				return err
			}
			if on && !cc.s.Autocommit && cc.s.InTransaction {
				// Turning autocommit on commits, as in MySQL.
				if err := cc.s.Commit(ctx); err != nil {
					return err
				}
			}
			cc.s.Autocommit = on
		case names:
			cc.s.SetSetting("names", restoreSet(v))
		default:
			cc.s.SetSetting(name, restoreSet(v))
		}
	}
	return nil
}

// restoreSet turns one assignment back into a SET statement of its own.
func restoreSet(v *ast.VariableAssignment) string {
	var sb strings.Builder
	one := &ast.SetStmt{Variables: []*ast.VariableAssignment{v}}
	if err := one.Restore(format.NewRestoreCtx(format.DefaultRestoreFlags, &sb)); err != nil {
		return ""
	}
	return sb.String()
}

func boolValue(e ast.ExprNode) (bool, error) {
	var sb strings.Builder
	if err := e.Restore(format.NewRestoreCtx(format.RestoreStringWithoutCharset, &sb)); err != nil {
		return false, err
	}
	switch strings.ToLower(strings.Trim(sb.String(), "'\"`")) {
	case "1", "on", "true":
		return true, nil
	case "0", "off", "false":
		return false, nil
	}
	return false, sqlerr.New(sqlerr.ERWrongValueForVar, "Variable 'autocommit' can't be set to the value of '%s'", sb.String())
}

func (cc *clientConn) showDatabases() error {
	names := cc.g.router.VSchema().KeyspaceNames()
	res := &querypb.QueryResult{Fields: []*querypb.Field{{Name: "Database", OrgName: "SCHEMA_NAME", Table: "SCHEMATA", Type: 253, Charset: 33, ColumnLength: 256}}}
	for _, n := range names {
		res.Rows = append(res.Rows, appendLenEncString(nil, n))
	}
	return cc.writeResult(res)
}
