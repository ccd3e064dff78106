package router

import (
	"context"

	"github.com/pingcap/tidb/pkg/parser/ast"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// PlanKind says who carries out a plan.
type PlanKind int

const (
	// PlanRoute plans run their Primitive against a ShardExecutor.
	PlanRoute PlanKind = iota
	// PlanSession plans change the session (BEGIN, COMMIT, ROLLBACK, USE,
	// SET, SHOW DATABASES, KILL, ...): the proxy carries them out from Stmt.
	PlanSession
)

// BindVars are the values of a statement's bind variables by name. Values
// are nil, int64, uint64, float64, string or []byte.
type BindVars map[string]any

// Plan is the outcome of planning one statement. Plans are cached and
// shared between sessions: they are immutable.
type Plan struct {
	Kind PlanKind
	// StmtType is the statement's kind for metrics: SELECT, INSERT, ...
	StmtType string
	// Type names the plan for metrics and EXPLAIN: Passthrough, Session, ...
	Type string
	// Stmt is the parsed statement; nil when the parser rejected it and it
	// is passed through to an unsharded keyspace unchanged.
	Stmt ast.StmtNode
	// ReadOnly plans change no data and may run on replicas.
	ReadOnly bool
	// Primitive runs a PlanRoute plan.
	Primitive Primitive
	// Params names the bind variable of each ? marker in the statement,
	// in the order of the markers: the proxy binds COM_STMT_EXECUTE
	// argument i to Params[i] (see Bind).
	Params []string
	// UsesLastInsertID is set when the statement calls LAST_INSERT_ID()
	// without arguments: the proxy must bind the session's last insert
	// id as LastInsertIDBind (a uint64) before executing.
	UsesLastInsertID bool
	// UsesTables is set when the statement reads or writes tables (or was
	// passed through unparsed, which may): such a statement clears the
	// previous statement's warnings and starts a transaction when
	// autocommit is off.
	UsesTables bool
	// FirstTable is the first table the statement names, lower-cased; ""
	// when none (or unparsed). Error 1142 names it.
	FirstTable string
	// SessionBinds names the session-value bind variables (the *Bind
	// constants below, LastInsertIDBind included) the statement uses, in
	// sorted order: the proxy binds each before executing. Nil when none.
	SessionBinds []string
	// Keyspaces are the keyspaces the statement names or runs on, sorted:
	// those of its tables, of EXPLAIN's statement, of SHOW ... FROM ks,
	// of the information_schema rows it asks for. A gate account needs
	// every one of them. Nil for plans made without parsing.
	Keyspaces []string
	// ListsKeyspaces is set when the statement lists the keyspaces
	// (information_schema.SCHEMATA): for an account limited to some, the
	// proxy plans it again with PlanVisible.
	ListsKeyspaces bool
	// Stats is shared by every copy of the plan the router hands out, for
	// the proxy to record executions into; nil for PlanSession plans.
	Stats *PlanStats
	// anyValues is set on plans of the normalized cache, which serve the
	// statement with any literal values (and so may be found by shape).
	anyValues bool
	// learned is set on plans built with columns from the ColumnSource;
	// colGen is the router's ColumnsChanged count they were built at.
	learned bool
	colGen  uint64
	// sessionCols are the result columns that are one session value,
	// which get mysqld's column definitions (sessioncols.go).
	sessionCols []sessionColumn
}

// Session values only the gate knows. A statement that reads one gets a
// bind variable in its place when it is normalized, and the proxy binds
// the session's value: a shard's pooled connection knows nothing of the
// client's session.
const (
	// LastInsertIDBind stands for LAST_INSERT_ID(), @@last_insert_id and
	// @@identity: a uint64.
	LastInsertIDBind = "__last_insert_id"
	// DatabaseBind stands for DATABASE() and SCHEMA(): the session's
	// keyspace as a string, nil when none is selected.
	DatabaseBind = "__database"
	// FoundRowsBind stands for FOUND_ROWS(): a uint64.
	FoundRowsBind = "__found_rows"
	// RowCountBind stands for ROW_COUNT(): an int64.
	RowCountBind = "__row_count"
	// ConnectionIDBind stands for CONNECTION_ID(): the client
	// connection's id at the gate (a uint64), the one KILL takes, not a
	// pooled tablet connection's.
	ConnectionIDBind = "__connection_id"
	// UserBind stands for USER(), SESSION_USER() and SYSTEM_USER(): the
	// client's account at the gate and its host, "name@host", not the
	// tablet's account on mysqld.
	UserBind = "__user"
	// CurrentUserBind stands for CURRENT_USER (with or without
	// parentheses): the gate account the client authenticated as,
	// "name@%" (gate accounts match any host).
	CurrentUserBind = "__current_user"
	// AutocommitBind stands for @@autocommit and @@session.autocommit: an
	// int64, 1 or 0.
	AutocommitBind = "__autocommit"
	// WarningCountBind stands for @@warning_count: a uint64.
	WarningCountBind = "__warning_count"
	// ErrorCountBind stands for @@error_count: a uint64.
	ErrorCountBind = "__error_count"
	// MaxAllowedPacketBind stands for @@max_allowed_packet and
	// @@session.max_allowed_packet: the gate's limit on a client packet
	// (an int64), not the tablets' mysqld's.
	MaxAllowedPacketBind = "__max_allowed_packet"
	// TransactionModeBind stands for @@transaction_mode: a string.
	TransactionModeBind = "__transaction_mode"
	// InTransactionBind stands for @@in_transaction: an int64, 1 or 0.
	InTransactionBind = "__in_transaction"
)

// Bind returns the bind variables for one execution of a prepared
// statement: the plan's own (from literals in its text) plus args[i] as
// Params[i]. args are nil, int64, uint64, float64, string or []byte. bv is
// not modified.
func (p *Plan) Bind(bv BindVars, args []any) (BindVars, error) {
	if len(args) != len(p.Params) {
		return nil, sqlerr.New(sqlerr.ERWrongArguments, "Incorrect arguments to EXECUTE: %d values for %d parameters", len(args), len(p.Params))
	}
	out := make(BindVars, len(bv)+len(args))
	for k, v := range bv {
		out[k] = v
	}
	for i, a := range args {
		out[p.Params[i]] = a
	}
	return out, nil
}

// Primitive is one operator of a plan tree.
type Primitive interface {
	// Execute runs the operator and returns its whole result.
	Execute(ctx context.Context, exec ShardExecutor, bv BindVars) (*querypb.QueryResult, error)
	// Stream runs the operator and hands its result to callback in chunks;
	// the first chunk carries the fields.
	Stream(ctx context.Context, exec ShardExecutor, bv BindVars, callback func(*querypb.QueryResult) error) error
	// Inputs returns the operator's inputs (nil for a leaf).
	Inputs() []Primitive
	// Describe says what the operator does, for EXPLAIN and golden tests.
	Describe() map[string]any
}

// beginStatement counts the memory of a plan whose operators may hold
// rows in the gate. A plan that is one route holds at most one shard's
// result (bounded by the tablet), or streams: it costs nothing here.
func (p *Plan) beginStatement(ctx context.Context) context.Context {
	if _, route := p.Primitive.(*Route); route {
		return ctx
	}
	return beginStatement(ctx)
}

// Execute runs a PlanRoute plan.
func (p *Plan) Execute(ctx context.Context, exec ShardExecutor, bv BindVars) (*querypb.QueryResult, error) {
	ctx = p.beginStatement(ctx)
	res, err := p.Primitive.Execute(ctx, exec, bv)
	if err == nil && len(p.sessionCols) > 0 {
		describeSessionColumns(p.sessionCols, res)
	}
	return res, err
}

// Stream runs a PlanRoute plan, streaming its result.
func (p *Plan) Stream(ctx context.Context, exec ShardExecutor, bv BindVars, callback func(*querypb.QueryResult) error) error {
	ctx = p.beginStatement(ctx)
	if len(p.sessionCols) == 0 {
		return p.Primitive.Stream(ctx, exec, bv, callback)
	}
	described := false
	return p.Primitive.Stream(ctx, exec, bv, func(res *querypb.QueryResult) error {
		if !described && len(res.Fields) > 0 {
			describeSessionColumns(p.sessionCols, res)
			described = true
		}
		return callback(res)
	})
}

// Keyspace returns the keyspace of a plan that is one route (DDL plans
// are), "" for other plans.
func (p *Plan) Keyspace() string {
	if r, ok := p.Primitive.(*Route); ok && r.Keyspace != nil {
		return r.Keyspace.Name
	}
	return ""
}
