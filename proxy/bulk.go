package proxy

import (
	"context"
	"fmt"
	"time"

	"github.com/pingcap/tidb/pkg/parser/ast"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proxy/mysqlsrv"
	"github.com/mosaicdb/mosaic/router"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// MariaDB's COM_STMT_BULK_EXECUTE (MARIADB_CLIENT_STMT_BULK_OPERATIONS):
// a prepared INSERT, REPLACE, UPDATE or DELETE run for many rows of
// parameters sent in one packet, as Connector/J (useBulkStmts), the
// MariaDB C, Python and Node connectors send a batch. The gate answers as
// MariaDB 10.11 does:
//
//   - An INSERT or REPLACE is one statement, all or nothing: MariaDB runs
//     the rows as one multi-row INSERT. The gate writes the batch as that
//     statement (router.BatchInsert), which plans once and goes to each
//     shard as one INSERT of that shard's rows. Under autocommit, when the
//     rows reach several shards, it runs in a transaction of its own, so
//     that a row failing on one shard (a duplicate key) leaves no row on
//     any: the error is the answer and nothing was written. Inside the
//     client's transaction the statement is undone alone, as any statement
//     (stmtatomic.go). An INSERT whose parameters are not all in its VALUES
//     rows (ON DUPLICATE KEY UPDATE n = ?) runs row by row, in the same
//     transaction of its own under autocommit.
//   - An UPDATE or DELETE runs once per row, in order, each row a
//     statement, and stops at the first row that fails: under autocommit
//     the rows before it stay done, as on MariaDB.
//   - The answer is one OK packet: the rows affected summed over the batch,
//     the id of a multi-row INSERT (the first generated), the warnings.
//
// MariaDB refuses the rest with 1295 (a SELECT, CALL, SET, INSERT ...
// SELECT, a statement without parameters, the SEND_UNIT_RESULTS flag of
// MariaDB 11.5) and so does the gate; RETURNING too.

// A batch runs in chunks of at most bulkChunkValues parameter values:
// what the gate holds of a batch of any size is one chunk's values, bind
// variables, SQL text and syntax tree, charged to the memory budget at
// bulkValueCost a value (the packet itself is charged as it is read).
const (
	bulkChunkValues = 16384
	bulkValueCost   = 512
)

// handleBulkExecute answers COM_STMT_BULK_EXECUTE, checking the packet in
// MariaDB's order: length, flags and the client's capability, the
// statement, the types, the kind of statement, then the rows.
func (cc *clientConn) handleBulkExecute(ctx context.Context, data []byte) error {
	start := time.Now()
	req, err := mysqlsrv.ParseBulkHeader(data)
	if err != nil {
		return cc.writeError(err)
	}
	if cc.extCapability&extStmtBulkOperations == 0 {
		// As MariaDB answers a client that did not ask for the command
		// (after checking the packet's length).
		return cc.writeError(mysqlsrv.ErrBulkUnsupported)
	}
	st := cc.stmts.get(req.StmtID)
	if st == nil {
		return cc.writeError(errUnknownStmt(req.StmtID, "mysqld_stmt_execute"))
	}
	defer cc.stmts.resetLongData(st)
	if err := req.ParseBulkTypes(st.numParams); err != nil {
		return cc.writeError(err)
	}
	if st.numParams == 0 || st.savepoint != nil || len(st.longData) > 0 {
		return cc.writeError(mysqlsrv.ErrBulkUnsupported)
	}
	if st.longDataErr != nil {
		return cc.writeError(st.longDataErr)
	}
	if cc.s.Shard != "" {
		return cc.writeError(sqlerr.NotSupported("prepared statements in a session targeting one shard (USE ks:shard)"))
	}
	plan, _, err := cc.planPrepared(ctx, st.sql)
	if err != nil {
		return cc.writeError(err)
	}
	kind, ok := bulkKindOf(plan.Stmt)
	if !ok || router.HasReturning(st.sql, cc.s.ParseMode) {
		return cc.writeError(mysqlsrv.ErrBulkUnsupported)
	}
	types := req.Types
	if types == nil {
		types = st.types
	}
	if types == nil {
		return cc.writeError(mysqlsrv.ErrBulkArgs)
	}
	rows, err := req.RowReader(types)
	if err != nil {
		return cc.writeError(err)
	}
	if req.Types != nil {
		st.types = req.Types
	}

	qctx, done := cc.queryContext(ctx, plan.Stmt, "Execute", st.sql)
	defer done()
	info := &stmtInfo{stmtType: plan.StmtType, planType: plan.Type, usesTables: true}
	cc.stmt = info
	cc.s.startStatement()
	res, err := cc.runBulk(qctx, st, kind, rows, info)
	err = interrupted(qctx, err)
	if err != nil {
		err = cc.afterError(err)
	}
	cc.finishStatement(info, err)
	cc.g.m.observe(&cc.observed, cc.s, plan.StmtType, plan.Type, start, err)
	recordPlan(info.stats, cc.s, start, err)
	if err != nil {
		return cc.pw.WriteError(err)
	}
	if res.InsertId != 0 {
		cc.s.LastInsertID = res.InsertId
	}
	cc.s.RowCount = int64(res.RowsAffected)
	return cc.pw.WriteOK(res.RowsAffected, res.InsertId, cc.status(), uint16(res.Warnings), res.Info)
}

// bulkKind is how a batch runs.
type bulkKind int

const (
	// bulkInsert: INSERT or REPLACE, all or nothing.
	bulkInsert bulkKind = iota
	// bulkEach: UPDATE or DELETE, row by row up to the first failure.
	bulkEach
)

// bulkKindOf returns how a batch of stmt runs; ok is false for the
// statements MariaDB refuses in a batch.
func bulkKindOf(stmt ast.StmtNode) (kind bulkKind, ok bool) {
	switch s := stmt.(type) {
	case *ast.InsertStmt:
		return bulkInsert, s.Select == nil
	case *ast.UpdateStmt, *ast.DeleteStmt:
		return bulkEach, true
	}
	return 0, false
}

// planPrepared plans a prepared statement's text for the session, as an
// execution does.
func (cc *clientConn) planPrepared(ctx context.Context, sql string) (*router.Plan, router.BindVars, error) {
	plan, bv, err := cc.g.router.PlanAt(sql, cc.s.Keyspace, cc.s.TabletType, cc.s.ParseMode)
	plan, bv, err = cc.g.planLearning(ctx, sql, cc.s.Keyspace, cc.s.TabletType, cc.s.ParseMode, plan, bv, err)
	return cc.forAccount(sql, plan, bv, err)
}

// runBulk runs a batch and returns what its OK packet says.
func (cc *clientConn) runBulk(ctx context.Context, st *preparedStmt, kind bulkKind, rows *mysqlsrv.BulkRowReader, info *stmtInfo) (*querypb.QueryResult, error) {
	if kind == bulkEach {
		return cc.runBulkEach(ctx, st.sql, rows, info, false)
	}
	batch, whole, err := cc.g.router.NewBatchInsert(st.sql, cc.s.ParseMode, st.numParams)
	if err != nil {
		return nil, err
	}
	// Under autocommit the batch is a transaction of its own; inside
	// the client's, it is one of its statements.
	own := !cc.s.InTransaction && cc.s.Autocommit
	if own {
		cc.s.beginBatchTx()
	}
	var res *querypb.QueryResult
	if whole {
		res, err = cc.runBatchInsert(ctx, batch, rows, info, own)
	} else {
		res, err = cc.runBulkEach(ctx, st.sql, rows, info, true)
	}
	if !own {
		return res, err
	}
	if err != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cc.g.cfg.TabletWait+5*time.Second)
		defer cancel()
		if rerr := cc.s.Rollback(rctx); rerr != nil {
			cc.log.Warn("rollback of a failed batch failed", "err", rerr)
		}
		return nil, err
	}
	if err := cc.g.commit(ctx, cc.s); err != nil {
		return nil, err
	}
	return res, nil
}

// chargeChunk takes a chunk's cost from the memory budget; the returned
// function gives it back.
func (cc *clientConn) chargeChunk(values int) (func(), error) {
	b := cc.g.mem
	if b == nil {
		return func() {}, nil
	}
	n := int64(values) * bulkValueCost
	if err := b.Acquire(n); err != nil {
		return nil, err
	}
	return func() { b.Release(n) }, nil
}

// runBatchInsert runs an INSERT or REPLACE batch as multi-row statements,
// one a chunk. Inside the client's transaction a chunk that fails after
// others were written would leave part of the batch: the transaction is
// then lost (rolled back, and the client told so) rather than keep half
// a statement.
func (cc *clientConn) runBatchInsert(ctx context.Context, batch *router.BatchInsert, rows *mysqlsrv.BulkRowReader, info *stmtInfo, own bool) (*querypb.QueryResult, error) {
	out := &querypb.QueryResult{}
	var records, dups uint64
	ran := 0
	failed := func(err error) error {
		if own || ran == 0 {
			return err
		}
		return cc.bulkPartFailed(err)
	}
	perChunk := max(bulkChunkValues/rows.Width(), 1)
	for chunk := rows.Next(perChunk); chunk != nil; chunk = rows.Next(perChunk) {
		release, err := cc.chargeChunk(len(chunk.Values))
		if err != nil {
			return nil, failed(err)
		}
		text, order, err := batch.Text(chunk.Len(), func(e, p int) bool {
			ind := chunk.Indicators[e*chunk.N+p]
			return ind == mysqlsrv.IndicatorDefault || ind == mysqlsrv.IndicatorIgnore
		})
		var res *querypb.QueryResult
		if err == nil {
			args := make([]any, len(order))
			for i, o := range order {
				args[i] = chunk.Values[o.Exec*chunk.N+o.Param]
			}
			res, err = cc.bulkStatement(ctx, text, args, info)
		}
		release()
		if err != nil {
			return nil, failed(err)
		}
		ran++
		out.RowsAffected += res.RowsAffected
		out.Warnings += res.Warnings
		if out.InsertId == 0 {
			out.InsertId = res.InsertId
		}
		var r, d, w uint64
		if _, err := fmt.Sscanf(res.Info, "Records: %d  Duplicates: %d  Warnings: %d", &r, &d, &w); err == nil {
			records, dups = records+r, dups+d
		} else {
			// A chunk of one row, which mysqld answers without it.
			records++
			if res.RowsAffected != 1 {
				dups++
			}
		}
	}
	if rows.Total() > 1 {
		out.Info = fmt.Sprintf("Records: %d  Duplicates: %d  Warnings: %d", records, dups, out.Warnings)
	}
	return out, nil
}

// bulkPartFailed returns the error of a batch's chunk that failed in the
// client's transaction after earlier chunks ran: the transaction is lost
// (afterError rolls it back and says so), so that the failed batch is
// undone with it.
func (cc *clientConn) bulkPartFailed(err error) error {
	e := sqlerr.FromError(err)
	lost := sqlerr.Wrap(e.Num, err, "%s (a bulk INSERT failed after writing part of its rows)", e.Message)
	lost.State, lost.TxEnded = e.State, true
	cc.s.markTxLost(lost)
	return lost
}

// runBulkEach runs the statement once per row, in order, up to the first
// row that fails, whose error is the batch's. insert says the statement
// is an INSERT, whose id is its first row's that has one; for the others
// it is the last.
func (cc *clientConn) runBulkEach(ctx context.Context, sql string, rows *mysqlsrv.BulkRowReader, info *stmtInfo, insert bool) (*querypb.QueryResult, error) {
	out := &querypb.QueryResult{}
	var changed, warned, dups uint64
	infoSums := true
	perChunk := max(bulkChunkValues/rows.Width(), 1)
	for chunk := rows.Next(perChunk); chunk != nil; chunk = rows.Next(perChunk) {
		for i := range chunk.Len() {
			vals, inds := chunk.Row(i)
			text, args, err := cc.rowWithDefaults(sql, vals, inds)
			if err != nil {
				return nil, err
			}
			res, err := cc.bulkStatement(ctx, text, args, info)
			if err != nil {
				return nil, err
			}
			out.RowsAffected += res.RowsAffected
			out.Warnings += res.Warnings
			if res.InsertId != 0 && (!insert || out.InsertId == 0) {
				out.InsertId = res.InsertId
			}
			if res.RowsAffected != 1 {
				dups++ // an INSERT's row that replaced, updated or was ignored
			}
			var m, c, w uint64
			if _, err := fmt.Sscanf(res.Info, "Rows matched: %d  Changed: %d  Warnings: %d", &m, &c, &w); err == nil {
				changed, warned = changed+c, warned+w
			} else {
				infoSums = false
			}
		}
	}
	if insert && rows.Total() > 1 {
		// As the multi-row INSERT MariaDB runs the batch as.
		out.Info = fmt.Sprintf("Records: %d  Duplicates: %d  Warnings: %d", rows.Total(), dups, out.Warnings)
		return out, nil
	}
	if infoSums {
		// An UPDATE's info over the batch as MariaDB 10.11 writes it:
		// the rows changed, summed, stand for the rows matched too
		// (a batch whose rows all match and change nothing says
		// "Rows matched: 0").
		out.Info = fmt.Sprintf("Rows matched: %d  Changed: %d  Warnings: %d", changed, changed, warned)
	}
	return out, nil
}

// rowWithDefaults returns the statement and arguments of one row of a
// batch run row by row: sql and vals as they are, unless a parameter is
// DEFAULT or IGNORE, which router.WithDefaults writes into the text.
func (cc *clientConn) rowWithDefaults(sql string, vals []any, inds []mysqlsrv.Indicator) (string, []any, error) {
	special := false
	for _, ind := range inds {
		special = special || ind == mysqlsrv.IndicatorDefault || ind == mysqlsrv.IndicatorIgnore
	}
	if !special {
		return sql, vals, nil
	}
	text, params, err := cc.g.router.WithDefaults(sql, cc.s.ParseMode, len(vals), func(p int) router.ParamUse {
		switch inds[p] {
		case mysqlsrv.IndicatorDefault:
			return router.ParamDefault
		case mysqlsrv.IndicatorIgnore:
			return router.ParamIgnore
		}
		return router.ParamValue
	})
	if err != nil {
		return "", nil, err
	}
	args := make([]any, len(params))
	for i, p := range params {
		args[i] = vals[p]
	}
	return text, args, nil
}

// bulkStatement plans and runs sql with args as one statement of the
// session, returning its result unwritten. A statement whose keyspace
// switched its traffic before it ran is planned and run again, as an
// execution is.
func (cc *clientConn) bulkStatement(ctx context.Context, sql string, args []any, info *stmtInfo) (*querypb.QueryResult, error) {
	if err := cc.checkClientArgs(args); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		plan, bv, err := cc.planPrepared(ctx, sql)
		if err != nil {
			return nil, err
		}
		if err := cc.checkPlanAccess(plan, sql); err != nil {
			return nil, err
		}
		bound, err := plan.Bind(bv, args)
		if err != nil {
			return nil, err
		}
		s := cc.s
		s.setWriting(true)
		s.beginImplicit(true)
		bound = s.bindSession(plan, bound)
		info.stats = plan.Stats
		res, err := plan.Execute(ctx, &sessionExecutor{gw: cc.g.gw, s: s, stats: plan.Stats}, bound)
		if switchedAgain(err, attempt) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if len(res.Fields) > 0 {
			// Rows where none were expected (RETURNING slipped past).
			return nil, mysqlsrv.ErrBulkUnsupported
		}
		return res, nil
	}
}
