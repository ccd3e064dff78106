package router

import (
	"context"
	"regexp"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// The TiDB parser knows EXPLAIN FORMAT = 'mosaic' (any quoted name) but
// only its own unquoted names (FORMAT = json, FORMAT = brief, ...), and no
// VEXPLAIN. Users type `EXPLAIN FORMAT=mosaic SELECT ...` and Vitess users
// `VEXPLAIN SELECT ...`: quoteExplainFormat rewrites both, before parsing,
// to the quoted form.
var (
	explainFormatRe = regexp.MustCompile(`(?is)^(\s*(?:/\*.*?\*/\s*)*(?:explain|describe|desc)\s+format\s*=\s*)(mosaic|vexplain|vitess)\b`)
	vexplainRe      = regexp.MustCompile(`(?is)^(\s*(?:/\*.*?\*/\s*)*)vexplain\s+(?:plan\s+)?`)
)

// quoteExplainFormat returns sql with an unquoted EXPLAIN FORMAT=mosaic
// (or vexplain, vitess) quoted, and VEXPLAIN [PLAN] stmt written as
// EXPLAIN FORMAT='vexplain' stmt; other text is returned as it is.
func quoteExplainFormat(sql string) string {
	t := strings.TrimLeft(sql, " \t\r\n")
	if len(t) < 8 || !strings.ContainsRune("eEdDvV/", rune(t[0])) {
		return sql
	}
	if loc := explainFormatRe.FindStringSubmatchIndex(sql); loc != nil {
		return sql[:loc[4]] + "'" + sql[loc[4]:loc[5]] + "'" + sql[loc[5]:]
	}
	if loc := vexplainRe.FindStringSubmatchIndex(sql); loc != nil {
		return sql[:loc[3]] + "EXPLAIN FORMAT='vexplain' " + sql[loc[1]:]
	}
	return sql
}

// planExplain plans EXPLAIN FORMAT=mosaic (or FORMAT=vexplain): rows
// describing the plan, without running it. A plain EXPLAIN of a statement
// that runs on one shard is sent to that shard.
func (p *planner) planExplain(s *ast.ExplainStmt, bv BindVars) (Primitive, string, error) {
	if s.Stmt == nil {
		return nil, "", sqlerr.NotSupported("this EXPLAIN form")
	}
	inner, _, err := p.planStmt(s.Stmt, "", bv)
	if err != nil {
		return nil, "", err
	}
	switch strings.ToLower(s.Format) {
	case "mosaic", "vexplain", "vitess":
		return &Explain{Input: inner}, "Explain", nil
	}
	if s.Analyze {
		return nil, "", sqlerr.NotSupported("EXPLAIN ANALYZE")
	}
	r, ok := inner.(*Route)
	if !ok || !(singleShard(r) || r.Opcode == Scatter || r.Opcode == IN) {
		return nil, "", sqlerr.NotSupported("EXPLAIN of a statement the gate runs in several steps (use EXPLAIN FORMAT=mosaic)")
	}
	out := *r
	out.OrderBy = nil
	if !singleShard(r) {
		out.Opcode = AnyShard
	}
	if _, ok := s.Stmt.(*ast.ShowStmt); ok {
		// DESCRIBE t: restored as DESC t.
		if out.Query, err = newTemplate(s, p.mode); err != nil {
			return nil, "", err
		}
		return &out, "Route", nil
	}
	// MariaDB knows EXPLAIN and EXPLAIN FORMAT=JSON, not TiDB's formats.
	prefix := "EXPLAIN "
	switch f := strings.ToLower(s.Format); f {
	case "", "row", "traditional":
	case "json":
		prefix = "EXPLAIN FORMAT=JSON "
	default:
		return nil, "", sqlerr.NotSupported("EXPLAIN FORMAT=%s (MariaDB has EXPLAIN and EXPLAIN FORMAT=JSON; the gate's plan is EXPLAIN FORMAT=mosaic)", f)
	}
	out.Query = templateOf(append([]segment{{text: prefix}}, r.Query.segs...), prefix+r.Query.display, r.Query.noBackslash)
	return &out, "Route", nil
}

// Explain answers EXPLAIN FORMAT=mosaic: rows describing its input's plan
// with the shards and SQL of this execution's values. The plan is cached
// for every statement of its shape, so the rows are made at execution,
// from the bind values of the statement being explained, never at
// planning. The input never runs.
type Explain struct {
	Input Primitive
}

func (e *Explain) Inputs() []Primitive { return []Primitive{e.Input} }

// Execute describes the plan. The one thing it runs is the read of a
// lookup route's lookup table, which names the route's shards.
func (e *Explain) Execute(ctx context.Context, exec ShardExecutor, bv BindVars) (*querypb.QueryResult, error) {
	return explainRows(e.Input, bv, func(r *Route) ([]ShardQuery, error) {
		return r.runQueries(ctx, exec, bv)
	}), nil
}

func (e *Explain) Stream(ctx context.Context, exec ShardExecutor, bv BindVars, callback func(*querypb.QueryResult) error) error {
	return streamViaExecute(ctx, e, exec, bv, callback)
}

func (e *Explain) Describe() map[string]any {
	return map[string]any{"operator": "Explain", "inputs": []any{e.Input.Describe()}}
}
