package router

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/opcode"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/router/sqltypes"
	"github.com/mosaicdb/mosaic/router/vindexes"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// LookupRef is a lookup vindex of one table, resolved against the whole
// VSchema: where its lookup table lives and whether this table owns it
// (maintains its entries).
type LookupRef struct {
	V *vindexes.Lookup
	// Keyspace holds the lookup table; Table is its VSchema entry, nil in
	// an unsharded keyspace that does not list it.
	Keyspace *Keyspace
	Table    *Table
	// Owned says the table of this column vindex is the vindex's owner:
	// its INSERT, UPDATE and DELETE maintain the lookup table.
	Owned bool
	// Err says why the lookup table cannot be used: statements that need
	// it fail with it.
	Err error
}

// resolveLookups resolves every lookup column vindex of every keyspace.
// It runs once all keyspaces are built.
func (vs *VSchema) resolveLookups() {
	for _, ks := range vs.Keyspaces {
		for _, t := range ks.Tables {
			for _, cv := range t.ColumnVindexes {
				l, ok := vindexes.AsLookup(cv.Vindex)
				if !ok {
					continue
				}
				ref := &LookupRef{V: l}
				if def := ks.VSchema.Vindexes[cv.Name]; def != nil && strings.EqualFold(def.Owner, t.Name) {
					ref.Owned = true
				}
				ref.Keyspace, ref.Table, ref.Err = vs.lookupTable(l)
				if ref.Err != nil {
					ref.Err = fmt.Errorf("lookup vindex %s of table %s.%s: %w", cv.Name, ks.Name, t.Name, ref.Err)
				}
				cv.Lookup = ref
			}
		}
	}
}

// lookupTable finds the table of a lookup vindex.
func (vs *VSchema) lookupTable(l *vindexes.Lookup) (*Keyspace, *Table, error) {
	lks, ok := vs.Keyspaces[l.Keyspace]
	if !ok {
		return nil, nil, fmt.Errorf("its table %s is in keyspace %s, which does not exist", l.TableName(), l.Keyspace)
	}
	if lks.Error != nil {
		return nil, nil, fmt.Errorf("the keyspace %s of its table cannot be used: %w", l.Keyspace, lks.Error)
	}
	t := lks.Tables[strings.ToLower(l.Table)]
	if t == nil {
		if lks.Sharded {
			return nil, nil, fmt.Errorf("its table %s is not in keyspace %s's VSchema (a lookup table in a sharded keyspace must be listed, sharded by its \"from\" column %s)", l.TableName(), l.Keyspace, l.From)
		}
		return lks, nil, nil
	}
	if t.Type != TableNormal {
		return nil, nil, fmt.Errorf("its table %s is a %s table", l.TableName(), t.Type)
	}
	if lks.Sharded {
		pv := t.PrimaryVindex()
		if pv == nil || pv.Column != strings.ToLower(l.From) {
			return nil, nil, fmt.Errorf("its table %s must be sharded by its \"from\" column %s", l.TableName(), l.From)
		}
		if _, isLookup := vindexes.AsLookup(pv.Vindex); isLookup {
			return nil, nil, fmt.Errorf("its table %s is itself sharded by a lookup vindex", l.TableName())
		}
	}
	if len(t.Columns) > 0 {
		for _, c := range []string{l.From, l.To} {
			if !containsFold(t.Columns, c) {
				return nil, nil, fmt.Errorf("its table %s has no column %s", l.TableName(), c)
			}
		}
	}
	return lks, t, nil
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// ownedLookups returns the lookup column vindexes t maintains.
func ownedLookups(t *Table) []*ColumnVindex {
	if t == nil {
		return nil
	}
	var out []*ColumnVindex
	for _, cv := range t.ColumnVindexes {
		if cv.Lookup != nil && cv.Lookup.Owned {
			out = append(out, cv)
		}
	}
	return out
}

// lookupColumn returns the sharded table of the group and its lookup
// column vindex on column c, when one can route reads (not write_only,
// resolved).
func (g *routeGroup) lookupColumn(c *ast.ColumnName) (*tableInfo, *ColumnVindex) {
	for _, t := range g.tables() {
		if !t.sharded() || t.tbl == nil || t.tbl.PrimaryVindex() == nil {
			continue
		}
		if c.Table.L != "" && c.Table.L != t.alias {
			continue
		}
		for _, cv := range t.tbl.ColumnVindexes[1:] {
			if cv.Lookup == nil || cv.Lookup.Err != nil || cv.Lookup.V.WriteOnly || cv.Column != c.Name.L {
				continue
			}
			return t, cv
		}
	}
	return nil, nil
}

// lookupRoute returns a route that finds its shards through a lookup
// vindex of a condition in conds (col = value, or col IN (values)), or
// nil when none can.
func (p *planner) lookupRoute(g *routeGroup, conds []ast.ExprNode) *Route {
	var best *Route
	for _, c := range conds {
		var cn *ast.ColumnNameExpr
		var vals []valueSource
		switch x := c.(type) {
		case *ast.BinaryOperationExpr:
			if x.Op != opcode.EQ {
				continue
			}
			col, val := x.L, x.R
			if _, ok := col.(*ast.ColumnNameExpr); !ok {
				col, val = val, col
			}
			var ok bool
			if cn, ok = col.(*ast.ColumnNameExpr); !ok {
				continue
			}
			src, ok := valueOf(val)
			if !ok {
				continue
			}
			vals = []valueSource{src}
		case *ast.PatternInExpr:
			if x.Not || x.Sel != nil {
				continue
			}
			var ok bool
			if cn, ok = x.Expr.(*ast.ColumnNameExpr); !ok {
				continue
			}
			for _, item := range x.List {
				src, ok := valueOf(item)
				if !ok {
					vals = nil
					break
				}
				vals = append(vals, src)
			}
			if len(vals) == 0 {
				continue
			}
		default:
			continue
		}
		t, cv := g.lookupColumn(cn.Name)
		if t == nil {
			continue
		}
		r := &Route{Opcode: ByLookup, Keyspace: g.ks, Vindex: cv.Vindex, VindexName: cv.Name, Values: vals,
			Lookup: &lookupStep{ref: cv.Lookup, owner: t.tbl.PrimaryVindex(), noBackslash: p.mode&NoBackslashEscapes != 0}}
		// A unique lookup names one row per value: prefer it.
		if best == nil || cv.Lookup.V.Unique && !best.Lookup.ref.V.Unique {
			best = r
		}
	}
	// The lookup keyspace is not touched (Plan.Keyspaces): reading a
	// lookup table is the gate's own work, as a sequence is, and an
	// account limited to the owner's keyspace may use it.
	return best
}

// lookupStep is the first step of a ByLookup route: read the lookup
// table for the route's values, and map the owner rows' sharding values
// it names to shards with the owner's primary vindex.
type lookupStep struct {
	ref *LookupRef
	// owner is the owner table's primary vindex.
	owner       *ColumnVindex
	noBackslash bool
}

// describe says what the step reads, for EXPLAIN.
func (l *lookupStep) describe() map[string]any {
	v := l.ref.V
	return map[string]any{
		"table": v.TableName(), "type": v.Type(),
		"query": "SELECT " + quoteName(v.From) + ", " + quoteName(v.To) + " FROM " + quoteName(v.Table) + " WHERE " + quoteName(v.From) + " IN ::values",
		"then":  "vindex " + l.owner.Name + " of " + l.owner.Column,
	}
}

// selectSQL is the statement reading the entries of vals.
func (l *lookupStep) selectSQL(vals []any) (string, error) {
	v := l.ref.V
	b := []byte("SELECT " + quoteName(v.From) + ", " + quoteName(v.To) + " FROM " + quoteName(v.Table) + " WHERE " + quoteName(v.From) + " IN (")
	for i, x := range vals {
		if i > 0 {
			b = append(b, ", "...)
		}
		var err error
		if b, err = sqltypes.AppendSQLIn(b, x, l.noBackslash); err != nil {
			return "", err
		}
	}
	return string(append(b, ')')), nil
}

// selects returns, in shard order, the statements that read the lookup
// table's entries of vals, each with suffix (a locking clause) appended.
func (l *lookupStep) selects(vals []any, suffix string) ([]ShardQuery, error) {
	byShard, err := lookupShardsOf(l.ref, vals)
	if err != nil {
		return nil, err
	}
	shards := make([]string, 0, len(byShard))
	for s := range byShard {
		shards = append(shards, s)
	}
	sort.Strings(shards)
	qs := make([]ShardQuery, len(shards))
	for i, s := range shards {
		sql, err := l.selectSQL(byShard[s])
		if err != nil {
			return nil, err
		}
		qs[i] = ShardQuery{Keyspace: l.ref.Keyspace.Name, Shard: s, SQL: sql + suffix}
	}
	return qs, nil
}

// lookupShards returns, for each value, the shards of the lookup
// keyspace holding its entries, and the shards for values the lookup
// table's vindex cannot map (every shard).
func lookupShardsOf(ref *LookupRef, vals []any) (map[string][]any, error) {
	ks := ref.Keyspace
	if len(ks.Shards) == 0 {
		return nil, sqlerr.New(sqlerr.ERUnknown, "keyspace %s of lookup table %s has no serving shards", ks.Name, ref.V.TableName())
	}
	out := map[string][]any{}
	if !ks.Sharded {
		out[ks.Shards[0]] = vals
		return out, nil
	}
	pv := ref.Table.PrimaryVindex()
	for _, v := range vals {
		ksid, ok := pv.Vindex.Map(v)
		if !ok {
			for _, s := range ks.Shards {
				out[s] = append(out[s], v)
			}
			continue
		}
		s, ok := ks.ShardForKeyspaceID(ksid)
		if !ok {
			return nil, sqlerr.New(sqlerr.ERUnknown, "no shard of keyspace %s holds keyspace id %x", ks.Name, ksid)
		}
		out[s] = append(out[s], v)
	}
	return out, nil
}

// readsOutside says the lookup table is read outside the session's
// transaction: a consistent or autocommit lookup is written outside it, so
// a transaction's snapshot could hide entries committed since.
func (ref *LookupRef) readsOutside() bool {
	return ref.V.Consistent || ref.V.Autocommit
}

// resolve reads the lookup table for the route's values and returns the
// owner rows' sharding values it names. Values that are NULL are left
// out (they match no row).
func (l *lookupStep) resolve(ctx context.Context, exec ShardExecutor, values []valueSource, bv BindVars) ([]any, error) {
	var vals []any
	for _, vs := range values {
		v, err := vs.resolve(bv)
		if err != nil {
			return nil, err
		}
		for _, x := range v {
			if x != nil {
				vals = append(vals, x)
			}
		}
	}
	if len(vals) == 0 {
		return nil, nil
	}
	qs, err := l.selects(vals, "")
	if err != nil {
		return nil, err
	}
	var results []*querypb.QueryResult
	if l.ref.readsOutside() {
		results, err = exec.ExecuteAutocommit(ctx, qs)
	} else {
		results, err = exec.Execute(ctx, qs)
	}
	if err != nil {
		return nil, fmt.Errorf("read lookup table %s: %w", l.ref.V.TableName(), err)
	}
	if err := ensureCount(results, len(qs)); err != nil {
		return nil, err
	}
	var tos []any
	for _, res := range results {
		rows, err := decodeRows(res)
		if err != nil {
			return nil, err
		}
		for _, row := range rows {
			if len(row) == 2 && row[1] != nil {
				tos = append(tos, string(row[1]))
			}
		}
	}
	return tos, nil
}

// lookupTargets resolves the shards of a ByLookup route among set: those
// of the owner rows the lookup table names. When it names none, the
// statement still runs once, on the first shard, for its fields.
func (r *Route) lookupTargets(ctx context.Context, exec ShardExecutor, bv BindVars, set shardSet) ([]shardTarget, error) {
	tos, err := r.Lookup.resolve(ctx, exec, r.Values, bv)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var order []string
	for _, to := range tos {
		ksid, ok := r.Lookup.owner.Vindex.Map(to)
		if !ok {
			// Not mappable: look everywhere rather than guess.
			out := make([]shardTarget, len(set.shards))
			for i, s := range set.shards {
				out[i] = shardTarget{shard: s}
			}
			return out, nil
		}
		s, ok := set.shardFor(ksid)
		if !ok {
			return nil, sqlerr.New(sqlerr.ERUnknown, "no shard of keyspace %s holds keyspace id %x", r.Keyspace.Name, ksid)
		}
		if !seen[s] {
			seen[s] = true
			order = append(order, s)
		}
	}
	if len(order) == 0 {
		return []shardTarget{{shard: set.shards[0]}}, nil
	}
	sort.Strings(order)
	out := make([]shardTarget, len(order))
	for i, s := range order {
		out[i] = shardTarget{shard: s}
	}
	return out, nil
}
