package proxy

import (
	"context"
	"slices"
	"strings"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/pingcap/tidb/pkg/parser/ast"
	"google.golang.org/protobuf/proto"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/router/sqltypes"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// CALL of a stored procedure. The tablet runs it on one mysqld
// connection and answers with every result mysqld gave (each result set
// the procedure produced, then the CALL's own OK; see
// QueryResult.more_results), buffered: a CALL never streams. The gate
// writes them to the client in order, each but the last flagged
// SERVER_MORE_RESULTS_EXISTS, as mysqld does.
//
// OUT and INOUT arguments are user variables (CALL p(10, @x)) that the
// procedure sets on the tablet's connection, which the tablet resets
// afterwards; the gate keeps user variables in the session (see
// sessionvars.go). So the gate asks the tablet to read every user
// variable argument right after the CALL on the same connection
// (ExecuteOptions.read_user_vars) and sets them in the session as SET @x
// = <value> would. Their values in reach the tablet as any user variable
// does, through the session's settings.

// writeResultsBefore writes the result sets a procedure produced before
// it failed (sqlerr.ResultsBefore: a SIGNAL after a SELECT), each flagged
// SERVER_MORE_RESULTS_EXISTS, as mysqld does; the caller then writes err,
// which it returns. A client without CLIENT_MULTI_RESULTS gets the error
// alone (mysqld refuses it such a procedure anyway).
func (cc *clientConn) writeResultsBefore(err error) error {
	results := sqlerr.ResultsBefore(err)
	if len(results) == 0 || cc.capability&mysql.CLIENT_MULTI_RESULTS == 0 {
		return err
	}
	more := cc.moreResults
	defer func() { cc.moreResults = more }()
	cc.moreResults = true
	for _, r := range results {
		if len(r.Fields) == 0 {
			// Only result sets come before the error: the OK of a
			// statement inside the procedure never reaches a client.
			continue
		}
		if werr := cc.writeResult(r); werr != nil {
			return werr
		}
	}
	return err
}

// callUserVars returns the user variables among a CALL's arguments, lower
// case, each once: the ones an OUT or INOUT parameter may set.
func callUserVars(call *ast.CallStmt) []string {
	var out []string
	if call.Procedure == nil {
		return nil
	}
	for _, a := range call.Procedure.Args {
		v, ok := a.(*ast.VariableExpr)
		if !ok || v.IsSystem {
			continue
		}
		if n := strings.ToLower(v.Name); !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// runCall runs a CALL with run, which sends it to its shard with exec,
// then sets the session's user variables from its OUT arguments and
// writes its results; out, when not nil, are a prepared CALL's OUT
// parameters bound as markers, written before the CALL's final OK.
func (cc *clientConn) runCall(ctx context.Context, call *ast.CallStmt, exec *sessionExecutor, out *callOut, run func(*sessionExecutor) (*querypb.QueryResult, error)) error {
	var vars []string
	for _, v := range callUserVars(call) {
		if out == nil || !slices.Contains(out.vars, v) {
			vars = append(vars, v)
		}
	}
	exec.readVars = vars
	if out != nil {
		exec.readVars = append(slices.Clone(vars), out.vars...)
	}
	res, err := run(exec)
	if err != nil {
		return cc.writeResultsBefore(err)
	}
	userVars, outVals := res.GetUserVars(), (*querypb.QueryResult)(nil)
	if out != nil {
		if userVars, outVals, err = splitUserVars(userVars, len(vars)); err != nil {
			return err
		}
	}
	if err := cc.setCallVars(ctx, vars, userVars); err != nil {
		return err
	}
	results := append([]*querypb.QueryResult{res}, res.MoreResults...)
	if cc.capability&mysql.CLIENT_MULTI_RESULTS == 0 && (len(results) > 1 || len(res.Fields) > 0) {
		// mysqld's answer to a client that cannot take several results.
		return sqlerr.New(sqlerr.ERSPBadSelect, "PROCEDURE %s can't return a result set in the given context", procName(call, cc.s.Keyspace))
	}
	more := cc.moreResults
	defer func() { cc.moreResults = more }()
	for i, r := range results {
		if out != nil && i == len(results)-1 {
			if err := cc.writeOutParams(out, outVals); err != nil {
				return err
			}
		}
		cc.moreResults = more || i < len(results)-1
		if err := cc.writeResult(r); err != nil {
			return err
		}
	}
	return nil
}

// procName names a CALL's procedure as mysqld's errors do (db.name).
func procName(call *ast.CallStmt, keyspace string) string {
	if call.Procedure == nil {
		return ""
	}
	if s := call.Procedure.Schema.O; s != "" {
		keyspace = s
	}
	return keyspace + "." + call.Procedure.FnName.O
}

// setCallVars sets the session's user variables vars to the values the
// tablet read after the CALL (vals: one row, one column per variable).
func (cc *clientConn) setCallVars(ctx context.Context, vars []string, vals *querypb.QueryResult) error {
	if len(vars) == 0 {
		return nil
	}
	if vals == nil || len(vals.Fields) != len(vars) || len(vals.Rows) != 1 {
		return sqlerr.New(sqlerr.ERUnknown, "the tablet did not return the CALL's user variables")
	}
	row, err := sqltypes.DecodeRow(vals.Rows[0], len(vals.Fields))
	if err != nil {
		return sqlerr.Wrap(sqlerr.ERUnknown, err, "the CALL's user variables: %v", err)
	}
	s := cc.s
	before := s.Settings()
	list := before
	for i, name := range vars {
		list = withSetting(list, "@"+name, "SET @"+quoteIdent(name)+" = "+varLiteral(vals.Fields[i], row[i]))
	}
	if s.InTransaction {
		if err := cc.applyInTransaction(ctx, before, list); err != nil {
			return err
		}
	}
	s.SetSettings(list)
	return nil
}

// withReadVars returns opts asking the tablet to read vars after the
// statement (a copy: opts is shared by the session's statements).
func withReadVars(opts *querypb.ExecuteOptions, vars []string) *querypb.ExecuteOptions {
	if len(vars) == 0 {
		return opts
	}
	out := &querypb.ExecuteOptions{}
	if opts != nil {
		out = proto.Clone(opts).(*querypb.ExecuteOptions)
	}
	out.ReadUserVars = vars
	return out
}

// varLiteral is sqlLiteral, except that a NULL keeps its type: a user
// variable an OUT parameter set to NULL is a NULL of the parameter's type
// (SELECT @x reports BIGINT, not a string), as in mysqld.
func varLiteral(f *querypb.Field, val []byte) string {
	if val != nil {
		return sqlLiteral(f, val)
	}
	switch f.Type {
	case sqltypes.TypeTiny, sqltypes.TypeShort, sqltypes.TypeLong, sqltypes.TypeLonglong, sqltypes.TypeInt24, sqltypes.TypeYear:
		if f.Flags&sqltypes.FlagUnsigned != 0 {
			return "CAST(NULL AS UNSIGNED)"
		}
		return "CAST(NULL AS SIGNED)"
	case sqltypes.TypeFloat, sqltypes.TypeDouble:
		return "CAST(NULL AS DOUBLE)"
	case sqltypes.TypeDecimal, sqltypes.TypeNewDecimal:
		return "CAST(NULL AS DECIMAL(65, 30))"
	}
	return "NULL"
}
