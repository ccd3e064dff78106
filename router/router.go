package router

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
	_ "github.com/pingcap/tidb/pkg/parser/test_driver" // literal values for the parser

	"github.com/mosaicdb/mosaic/sqlerr"
)

// Config tunes the router.
type Config struct {
	// PlanCacheSize bounds the number of cached plans.
	PlanCacheSize int
}

// DefaultConfig returns the default router configuration.
func DefaultConfig() Config {
	return Config{PlanCacheSize: 5000}
}

// Validate checks a Config.
func (c Config) Validate() error {
	if c.PlanCacheSize < 0 {
		return fmt.Errorf("plan cache size %d below zero", c.PlanCacheSize)
	}
	return nil
}

// Router plans statements. It is safe for concurrent use.
type Router struct {
	cfg     Config
	vschema atomic.Pointer[VSchema]
	parsers sync.Pool
}

// New returns a router with an empty VSchema.
func New(cfg Config) *Router {
	r := &Router{cfg: cfg}
	r.vschema.Store(BuildVSchema(nil, nil))
	r.parsers.New = func() any { return parser.New() }
	return r
}

// SetVSchema replaces the VSchema that new plans use.
func (r *Router) SetVSchema(vs *VSchema) {
	r.vschema.Store(vs)
}

// VSchema returns the current VSchema.
func (r *Router) VSchema() *VSchema { return r.vschema.Load() }

// Parse parses one statement.
func (r *Router) Parse(sql string) (ast.StmtNode, error) {
	p := r.parsers.Get().(*parser.Parser)
	defer r.parsers.Put(p)
	stmt, err := p.ParseOneStmt(sql, "", "")
	if err != nil {
		return nil, sqlerr.Wrap(sqlerr.ERParseError, err, "%s", err.Error())
	}
	return stmt, nil
}

// Plan plans sql for a session whose current keyspace is keyspace ("" when
// none is selected). It returns the plan and the bind variables taken from
// the statement.
func (r *Router) Plan(sql, keyspace string) (*Plan, BindVars, error) {
	vs := r.VSchema()
	stmt, perr := r.Parse(sql)
	if perr != nil {
		// An unsharded keyspace gets what the parser rejects unchanged:
		// mysqld may well understand it.
		ks, err := r.defaultKeyspace(vs, keyspace)
		if err != nil || ks.Sharded {
			return nil, nil, perr
		}
		return &Plan{Kind: PlanRoute, StmtType: stmtTypeOfText(sql), Type: "Passthrough", Primitive: &unshardedRoute{keyspace: ks.Name, shard: ks.Shards[0], sql: sql}}, nil, nil
	}
	if isSessionStmt(stmt) {
		return &Plan{Kind: PlanSession, StmtType: stmtType(stmt), Type: "Session", Stmt: stmt, ReadOnly: true}, nil, nil
	}
	ks, err := r.defaultKeyspace(vs, keyspace)
	if err != nil {
		return nil, nil, err
	}
	if ks.Sharded {
		return nil, nil, sqlerr.NotSupported("queries on sharded keyspace %s yet", ks.Name)
	}
	return &Plan{
		Kind:      PlanRoute,
		StmtType:  stmtType(stmt),
		Type:      "Passthrough",
		Stmt:      stmt,
		ReadOnly:  isReadOnly(stmt),
		Primitive: &unshardedRoute{keyspace: ks.Name, shard: ks.Shards[0], sql: sql},
	}, nil, nil
}

// defaultKeyspace returns the keyspace a statement without a qualifier
// runs in: the session's, or when none is selected the only one there is.
func (r *Router) defaultKeyspace(vs *VSchema, name string) (*Keyspace, error) {
	if name == "" {
		if len(vs.Keyspaces) == 0 {
			return nil, sqlerr.New(sqlerr.ERNoDB, "No database selected")
		}
		// Without a keyspace, a statement that names no table (SELECT 1)
		// can run anywhere: pick an unsharded keyspace first.
		names := vs.KeyspaceNames()
		for _, n := range names {
			if ks := vs.Keyspaces[n]; !ks.Sharded && len(ks.Shards) > 0 {
				return ks, nil
			}
		}
		return nil, sqlerr.New(sqlerr.ERNoDB, "No database selected")
	}
	ks, ok := vs.Keyspaces[name]
	if !ok {
		return nil, sqlerr.New(sqlerr.ERBadDB, "Unknown database '%s'", name)
	}
	if ks.Error != nil {
		return nil, sqlerr.Wrap(sqlerr.ERUnknown, ks.Error, "%s", ks.Error.Error())
	}
	if len(ks.Shards) == 0 {
		return nil, sqlerr.New(sqlerr.ERUnknown, "keyspace %s has no serving shards", name)
	}
	return ks, nil
}

// isSessionStmt reports the statements the proxy carries out itself.
func isSessionStmt(stmt ast.StmtNode) bool {
	switch s := stmt.(type) {
	case *ast.BeginStmt, *ast.CommitStmt, *ast.RollbackStmt, *ast.UseStmt, *ast.SetStmt, *ast.KillStmt:
		return true
	case *ast.ShowStmt:
		return s.Tp == ast.ShowDatabases
	}
	return false
}

func isReadOnly(stmt ast.StmtNode) bool {
	switch s := stmt.(type) {
	case *ast.SelectStmt:
		return s.LockInfo == nil && s.SelectIntoOpt == nil
	case *ast.SetOprStmt, *ast.ShowStmt, *ast.ExplainStmt:
		return true
	}
	return false
}

func stmtType(stmt ast.StmtNode) string {
	switch stmt.(type) {
	case *ast.SelectStmt, *ast.SetOprStmt:
		return "SELECT"
	case *ast.InsertStmt:
		return "INSERT"
	case *ast.UpdateStmt:
		return "UPDATE"
	case *ast.DeleteStmt:
		return "DELETE"
	case *ast.ShowStmt:
		return "SHOW"
	case *ast.SetStmt:
		return "SET"
	case *ast.UseStmt:
		return "USE"
	case *ast.BeginStmt:
		return "BEGIN"
	case *ast.CommitStmt:
		return "COMMIT"
	case *ast.RollbackStmt:
		return "ROLLBACK"
	case *ast.ExplainStmt:
		return "EXPLAIN"
	case ast.DDLNode:
		return "DDL"
	}
	return "OTHER"
}

// stmtTypeOfText guesses the type of a statement the parser rejected from
// its first word.
func stmtTypeOfText(sql string) string {
	f := strings.Fields(sql)
	if len(f) == 0 {
		return "OTHER"
	}
	switch w := strings.ToUpper(f[0]); w {
	case "SELECT", "INSERT", "UPDATE", "DELETE", "SHOW", "SET":
		return w
	case "CREATE", "ALTER", "DROP", "TRUNCATE", "RENAME":
		return "DDL"
	}
	return "OTHER"
}
