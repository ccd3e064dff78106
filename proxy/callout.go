package proxy

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/format"
	driver "github.com/pingcap/tidb/pkg/parser/test_driver"
	"google.golang.org/protobuf/proto"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/router"
	"github.com/mosaicdb/mosaic/router/sqltypes"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// OUT and INOUT parameters of a prepared CALL bound as ? markers
// (JDBC's CallableStatement with registerOutParameter). mysqld answers
// such an execution with the procedure's result sets, then one binary
// result set holding the OUT and INOUT parameters' values, flagged
// SERVER_PS_OUT_PARAMS, then the CALL's OK. The gate binds parameters as
// literals, which mysqld refuses in an OUT position (1414), so for those
// markers it passes user variables of its own (@_mosaic_out<n>, n the
// argument's position) that the tablet reads back right after the CALL
// (ExecuteOptions.read_user_vars), sets an INOUT one to the bound value
// first, and writes the values as mysqld's OUT-parameter result set. It
// learns which parameters are OUT or INOUT from the keyspace's
// information_schema.PARAMETERS.

// serverPSOutParams marks the result set of a prepared CALL's OUT and
// INOUT parameters (SERVER_PS_OUT_PARAMS).
const serverPSOutParams uint16 = 0x1000

// callOut is what a prepared CALL with OUT or INOUT markers returns
// beside the procedure's results.
type callOut struct {
	// vars are the gate's user variables standing for the parameters, in
	// argument order; names the parameters' names.
	vars, names []string
}

// outVarPrefix begins the gate's user variables for OUT parameters.
const outVarPrefix = "_mosaic_out"

// procParam is one parameter of a stored procedure.
type procParam struct{ mode, name string }

// procParams reads the parameters of procedure schema.name, in order,
// from the keyspace's information_schema.
func (cc *clientConn) procParams(ctx context.Context, schema, name string) ([]procParam, error) {
	q := "SELECT PARAMETER_MODE, PARAMETER_NAME FROM information_schema.PARAMETERS WHERE SPECIFIC_SCHEMA = " +
		cc.s.quote(schema) + " AND SPECIFIC_NAME = " + cc.s.quote(name) +
		" AND ROUTINE_TYPE = 'PROCEDURE' AND ORDINAL_POSITION > 0 ORDER BY ORDINAL_POSITION"
	plan, bv, err := cc.g.router.PlanAt(q, schema, cc.s.TabletType, cc.s.ParseMode)
	if err != nil {
		return nil, err
	}
	// Outside the session's transaction: the statement only reads the
	// data dictionary.
	exec := &sessionExecutor{gw: cc.g.gw, s: cc.s, opts: cc.s.Options()}
	res, err := plan.Execute(ctx, exec, cc.s.bindSession(plan, bv))
	if err != nil {
		return nil, err
	}
	out := make([]procParam, 0, len(res.Rows))
	for _, raw := range res.Rows {
		row, err := sqltypes.DecodeRow(raw, 2)
		if err != nil {
			return nil, sqlerr.Wrap(sqlerr.ERUnknown, err, "the parameters of %s.%s: %v", schema, name, err)
		}
		out = append(out, procParam{mode: strings.ToUpper(string(row[0])), name: string(row[1])})
	}
	return out, nil
}

// markerCollector lists the ? markers of a statement.
type markerCollector struct{ offsets []int }

func (m *markerCollector) Enter(n ast.Node) (ast.Node, bool) {
	if p, ok := n.(*driver.ParamMarkerExpr); ok {
		m.offsets = append(m.offsets, p.Offset)
	}
	return n, false
}

func (m *markerCollector) Leave(n ast.Node) (ast.Node, bool) { return n, true }

// planCallOut prepares a prepared CALL (sql) whose ? markers include OUT
// or INOUT parameters: it returns the CALL planned with the gate's user
// variables in their places and the arguments left for the other
// markers, and sets the session's variables for INOUT parameters to
// their values (undo removes them again). out is nil, and nothing
// changed, when the CALL has no such marker.
func (cc *clientConn) planCallOut(ctx context.Context, sql string, args []any) (plan *router.Plan, bv router.BindVars, rest []any, out *callOut, undo func(), err error) {
	// A fresh tree: planning replaced the markers of the cached one.
	stmt, err := cc.g.router.Parse(sql, cc.s.ParseMode)
	if err != nil {
		return nil, nil, nil, nil, nil, nil
	}
	call, ok := stmt.(*ast.CallStmt)
	if !ok || call.Procedure == nil {
		return nil, nil, nil, nil, nil, nil
	}
	// Arguments bind to the markers in the order they appear.
	var mc markerCollector
	call.Accept(&mc)
	slices.Sort(mc.offsets)
	if len(mc.offsets) != len(args) {
		return nil, nil, nil, nil, nil, nil
	}
	marker := map[int]int{} // argument position → index in args
	for i, a := range call.Procedure.Args {
		if m, ok := a.(*driver.ParamMarkerExpr); ok {
			marker[i], _ = slices.BinarySearch(mc.offsets, m.Offset)
		}
	}
	if len(marker) == 0 {
		return nil, nil, nil, nil, nil, nil
	}
	schema := call.Procedure.Schema.O
	if schema == "" {
		schema = cc.s.Keyspace
	}
	params, err := cc.procParams(ctx, schema, call.Procedure.FnName.O)
	if err != nil || len(params) != len(call.Procedure.Args) {
		// mysqld's own error (no such procedure, a wrong argument
		// count) comes from running the CALL as it is.
		return nil, nil, nil, nil, nil, nil
	}
	replaced := map[int]bool{} // indexes in args given a variable
	var inout []int            // argument positions of INOUT markers
	var sb strings.Builder
	sb.WriteString("CALL ")
	rctx := format.NewRestoreCtx(cc.s.ParseMode.RestoreFlags(), &sb)
	if call.Procedure.Schema.O != "" {
		rctx.WriteName(call.Procedure.Schema.O)
		sb.WriteString(".")
	}
	rctx.WriteName(call.Procedure.FnName.O)
	sb.WriteString("(")
	out = &callOut{}
	for i, a := range call.Procedure.Args {
		if i > 0 {
			sb.WriteString(", ")
		}
		if m, ok := marker[i]; ok && (params[i].mode == "OUT" || params[i].mode == "INOUT") {
			v := fmt.Sprintf("%s%d", outVarPrefix, i+1)
			sb.WriteString("@" + v)
			out.vars = append(out.vars, v)
			out.names = append(out.names, params[i].name)
			replaced[m] = true
			if params[i].mode == "INOUT" {
				inout = append(inout, i)
			}
			continue
		}
		if err := a.Restore(rctx); err != nil {
			return nil, nil, nil, nil, nil, sqlerr.Wrap(sqlerr.ERUnknown, err, "restore CALL argument %d: %v", i+1, err)
		}
	}
	sb.WriteString(")")
	if len(out.vars) == 0 {
		return nil, nil, nil, nil, nil, nil
	}
	for i, a := range args {
		if !replaced[i] {
			rest = append(rest, a)
		}
	}
	plan, bv, err = cc.g.router.PlanAt(sb.String(), cc.s.Keyspace, cc.s.TabletType, cc.s.ParseMode)
	if err != nil {
		return nil, nil, nil, nil, nil, err
	}
	// An INOUT parameter starts with its bound value: the session's
	// variable, as SET @v = value would make it, for this CALL only.
	s := cc.s
	before := s.Settings()
	list := before
	var names []string
	for _, i := range inout {
		lit, err := sqltypes.AppendSQLIn(nil, args[marker[i]], s.ParseMode&router.NoBackslashEscapes != 0)
		if err != nil {
			return nil, nil, nil, nil, nil, sqlerr.Wrap(sqlerr.ERWrongArguments, err, "CALL argument %d: %v", i+1, err)
		}
		name := fmt.Sprintf("@%s%d", outVarPrefix, i+1)
		names = append(names, name)
		list = withSetting(list, name, "SET "+name+" = "+string(lit))
	}
	undo = func() {}
	if len(names) > 0 {
		s.SetSettings(list)
		if s.InTransaction {
			if err := cc.applyInTransaction(ctx, before, list); err != nil {
				s.SetSettings(before)
				return nil, nil, nil, nil, nil, err
			}
		}
		undo = func() {
			l := s.Settings()
			for _, n := range names {
				l = withSetting(l, n, "")
			}
			s.SetSettings(l)
		}
	}
	return plan, bv, rest, out, undo, nil
}

// splitUserVars splits the user variables the tablet read after a CALL
// (one row) into the first n and the rest.
func splitUserVars(vals *querypb.QueryResult, n int) (first, rest *querypb.QueryResult, err error) {
	if vals == nil || len(vals.Rows) != 1 || len(vals.Fields) < n {
		return nil, nil, sqlerr.New(sqlerr.ERUnknown, "the tablet did not return the CALL's user variables")
	}
	row, err := sqltypes.DecodeRow(vals.Rows[0], len(vals.Fields))
	if err != nil {
		return nil, nil, sqlerr.Wrap(sqlerr.ERUnknown, err, "the CALL's user variables: %v", err)
	}
	first = &querypb.QueryResult{Fields: vals.Fields[:n], Rows: [][]byte{sqltypes.EncodeRow(row[:n])}}
	rest = &querypb.QueryResult{Fields: vals.Fields[n:], Rows: [][]byte{sqltypes.EncodeRow(row[n:])}}
	return first, rest, nil
}

// writeOutParams writes the values of a prepared CALL's OUT and INOUT
// parameters as mysqld does: a binary result set named by the
// parameters, its column definitions ended by an EOF flagged
// SERVER_PS_OUT_PARAMS, more results to follow (the CALL's OK). A client
// without CLIENT_PS_MULTI_RESULTS does not get them, as from mysqld.
func (cc *clientConn) writeOutParams(out *callOut, vals *querypb.QueryResult) error {
	if cc.capability&mysql.CLIENT_PS_MULTI_RESULTS == 0 {
		return nil
	}
	fields := make([]*querypb.Field, len(vals.Fields))
	for i, f := range vals.Fields {
		f = proto.Clone(f).(*querypb.Field)
		f.Name, f.OrgName, f.Table, f.OrgTable, f.Database = out.names[i], out.names[i], "", "", ""
		fields[i] = f
	}
	more := cc.moreResults
	cc.moreResults = true
	defer func() { cc.moreResults = more }()
	if err := cc.writeFields(fields, cc.status()|serverPSOutParams); err != nil {
		return err
	}
	if err := cc.writeRows(fields, vals.Rows); err != nil {
		return err
	}
	return cc.pw.WriteEOF(cc.status(), 0)
}
