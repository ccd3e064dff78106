package router

import (
	"context"
	"sort"
	"sync"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/router/sqltypes"
	"github.com/mosaicdb/mosaic/router/vindexes"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// RouteOpcode says how a Route picks its shards.
type RouteOpcode int

const (
	// Unsharded sends to the only shard of an unsharded keyspace.
	Unsharded RouteOpcode = iota
	// EqualUnique sends to the shard of one vindex value.
	EqualUnique
	// IN sends to the shards of a list of vindex values, each shard
	// getting only its own values in the IN list.
	IN
	// Scatter sends to every shard and merges.
	Scatter
	// AnyShard sends to one shard: reference tables, information_schema,
	// SHOW, statements without tables.
	AnyShard
	// AllShards sends the same statement to every shard and reports the
	// first shard's result: DDL and writes to reference tables.
	AllShards
	// Pinned sends to the shard holding a pinned table's keyspace id.
	Pinned
	// Lock sends a statement of user-level lock functions to the
	// session's lock session on the keyspace's first shard (the only one
	// of an unsharded keyspace): see ShardQuery.Lock.
	Lock
	// ByLookup sends to the shards a lookup vindex names for its values:
	// the route first reads the lookup table (Route.Lookup).
	ByLookup
)

var opcodeNames = map[RouteOpcode]string{
	Unsharded: "Unsharded", EqualUnique: "EqualUnique", IN: "IN", Scatter: "Scatter",
	AnyShard: "AnyShard", AllShards: "AllShards", Pinned: "Pinned", Lock: "Lock", ByLookup: "ByLookup",
}

func (o RouteOpcode) String() string { return opcodeNames[o] }

// valueSource is where a routing value comes from: a bind variable, a
// constant, or a list bind variable (a subquery's result, join keys).
type valueSource struct {
	bind    string
	list    bool
	isConst bool
	val     any
}

func (v valueSource) resolve(bv BindVars) ([]any, error) {
	if v.isConst {
		return []any{v.val}, nil
	}
	x, ok := bv[v.bind]
	if !ok {
		return nil, sqlerr.New(sqlerr.ERWrongArguments, "missing bind variable %s", v.bind)
	}
	if l, isList := x.([]any); isList {
		return l, nil
	}
	return []any{x}, nil
}

func (v valueSource) String() string {
	switch {
	case v.isConst:
		b, err := sqltypes.AppendSQL(nil, v.val)
		if err != nil {
			return "?"
		}
		return string(b)
	case v.list:
		return "::" + v.bind
	}
	return ":" + v.bind
}

// orderKey is one ORDER BY key over result columns.
type orderKey struct {
	col  int // negative counts from the end
	desc bool
	// weight, when hasWeight, is the column holding the shards'
	// WEIGHT_STRING(RTRIM(key)): text values order by it, so in the
	// collation of the shards' column. (The column definitions MariaDB
	// sends carry the connection's collation, not the column's, so the
	// gate cannot tell utf8mb4_unicode_ci from utf8mb4_general_ci.)
	weight    int
	hasWeight bool
}

// Route sends one statement to the shards of one keyspace.
type Route struct {
	noInputs
	Opcode   RouteOpcode
	Keyspace *Keyspace
	// Vindex routes EqualUnique and IN.
	Vindex     vindexes.Vindex
	VindexName string
	// Values are the vindex values: one for EqualUnique, the list items
	// for IN (each possibly a list bind variable).
	Values []valueSource
	// ListBind, for IN, is the list bind variable of Query that receives
	// each shard's own values; empty when the IN list is not rewritten.
	ListBind string
	Query    *sqlTemplate
	// OrderBy merges the sorted results of several shards.
	OrderBy []orderKey
	// PinnedShard is the shard of a Pinned route; PinnedID the table's
	// keyspace id, which picks its shard among those serving reads when
	// they are not the primary's.
	PinnedShard string
	PinnedID    []byte
	// Lookup is the lookup step of a ByLookup route; Values are then the
	// looked-up column's values.
	Lookup *lookupStep
}

type shardTarget struct {
	shard string
	vals  []any
}

// set returns the shards the route may send to when its queries go to
// tablets of type tt: writes and locks always go to the primary's.
func (r *Route) set(tt topodatapb.TabletType) shardSet {
	if r.Opcode == AllShards || r.Opcode == Lock {
		tt = topodatapb.TabletType_PRIMARY
	}
	return r.Keyspace.served(tt)
}

// targets resolves the shards of one execution among set.
func (r *Route) targets(bv BindVars, set shardSet) ([]shardTarget, error) {
	ks := r.Keyspace
	if len(set.shards) == 0 {
		return nil, sqlerr.New(sqlerr.ERUnknown, "keyspace %s has no serving shards", ks.Name)
	}
	all := func() []shardTarget {
		t := make([]shardTarget, len(set.shards))
		for i, s := range set.shards {
			t[i] = shardTarget{shard: s}
		}
		return t
	}
	if s, ok := r.oneShard(set); ok {
		return []shardTarget{{shard: s}}, nil
	}
	switch r.Opcode {
	case Scatter, AllShards:
		return all(), nil
	case EqualUnique, IN:
		var vals []any
		for _, vs := range r.Values {
			v, err := vs.resolve(bv)
			if err != nil {
				return nil, err
			}
			vals = append(vals, v...)
		}
		byShard := map[string]*shardTarget{}
		var order []string
		for _, v := range vals {
			if v == nil {
				continue // NULL matches no row
			}
			ksid, ok := r.Vindex.Map(v)
			if !ok {
				// Not routable: look everywhere rather than guess.
				if r.ListBind != "" {
					// Keep the full list on every shard.
					t := all()
					for i := range t {
						t[i].vals = vals
					}
					return t, nil
				}
				return all(), nil
			}
			shard, ok := set.shardFor(ksid)
			if !ok {
				return nil, sqlerr.New(sqlerr.ERUnknown, "no shard of keyspace %s holds keyspace id %x", ks.Name, ksid)
			}
			t := byShard[shard]
			if t == nil {
				t = &shardTarget{shard: shard}
				byShard[shard] = t
				order = append(order, shard)
			}
			t.vals = append(t.vals, v)
		}
		if len(order) == 0 {
			// Only NULLs: no row can match, but the statement must still
			// run once for its fields (and its empty result).
			if r.ListBind != "" {
				return []shardTarget{{shard: set.shards[0], vals: []any{nil}}}, nil
			}
			return []shardTarget{{shard: set.shards[0]}}, nil
		}
		sort.Strings(order)
		out := make([]shardTarget, len(order))
		for i, s := range order {
			out[i] = *byShard[s]
		}
		return out, nil
	}
	if r.Opcode == Pinned {
		return nil, sqlerr.New(sqlerr.ERUnknown, "no shard of keyspace %s holds pinned keyspace id %x", ks.Name, r.PinnedID)
	}
	if r.Opcode == ByLookup {
		return nil, errLookupUnread
	}
	return nil, sqlerr.New(sqlerr.ERUnknown, "unknown route opcode %d", r.Opcode)
}

// oneShard returns the shard of a route whose opcode names one among
// set, given that set has shards.
func (r *Route) oneShard(set shardSet) (string, bool) {
	switch r.Opcode {
	case Unsharded, AnyShard, Lock:
		return set.shards[0], true
	case Pinned:
		if r.Keyspace.reads == nil || len(r.PinnedID) == 0 {
			return r.PinnedShard, true
		}
		return set.shardFor(r.PinnedID)
	}
	return "", false
}

// targetOne resolves the shard of an EqualUnique route on one value, the
// point query of a sharded keyspace, among set (which has shards) without
// the maps and slices of targets; ok is false when the route is another
// kind, or its value asks for targets' general handling (a list, a value
// the vindex cannot map). It gives what targets gives.
func (r *Route) targetOne(bv BindVars, set shardSet) (shardTarget, bool, error) {
	ks := r.Keyspace
	if r.Opcode != EqualUnique || len(r.Values) != 1 || r.ListBind != "" {
		return shardTarget{}, false, nil
	}
	vs := r.Values[0]
	v := vs.val
	if !vs.isConst {
		x, ok := bv[vs.bind]
		if !ok {
			return shardTarget{}, false, nil
		}
		if _, isList := x.([]any); isList {
			return shardTarget{}, false, nil
		}
		v = x
	}
	if v == nil {
		// NULL matches no row; the statement still runs once.
		return shardTarget{shard: set.shards[0]}, true, nil
	}
	ksid, ok := r.Vindex.Map(v)
	if !ok {
		return shardTarget{}, false, nil
	}
	shard, ok := set.shardFor(ksid)
	if !ok {
		return shardTarget{}, false, sqlerr.New(sqlerr.ERUnknown, "no shard of keyspace %s holds keyspace id %x", ks.Name, ksid)
	}
	return shardTarget{shard: shard}, true, nil
}

// queries renders the statement for each target, among the shards that
// serve tablet type tt.
func (r *Route) queries(bv BindVars, tt topodatapb.TabletType) ([]ShardQuery, error) {
	var one [1]shardTarget
	var targets []shardTarget
	set := r.set(tt)
	if len(set.shards) == 0 {
		return nil, sqlerr.New(sqlerr.ERUnknown, "keyspace %s has no serving shards", r.Keyspace.Name)
	}
	if s, ok := r.oneShard(set); ok {
		// The common cases without a slice of targets on the heap.
		one[0] = shardTarget{shard: s}
		targets = one[:]
	} else if t, ok, err := r.targetOne(bv, set); err != nil {
		return nil, err
	} else if ok {
		one[0] = t
		targets = one[:]
	} else {
		var err error
		if targets, err = r.targets(bv, set); err != nil {
			return nil, err
		}
	}
	return r.render(targets, bv)
}

// errLookupUnread is the error of asking a ByLookup route for its shards
// without reading its lookup table.
var errLookupUnread = sqlerr.New(sqlerr.ERUnknown, "the shards of a lookup route are known once its lookup table is read")

// runQueries renders the statement for each target of this execution on
// exec: a ByLookup route reads its lookup table first.
func (r *Route) runQueries(ctx context.Context, exec ShardExecutor, bv BindVars) ([]ShardQuery, error) {
	tt := servedType(exec, r.Keyspace)
	if r.Opcode != ByLookup {
		return r.queries(bv, tt)
	}
	set := r.set(tt)
	if len(set.shards) == 0 {
		return nil, sqlerr.New(sqlerr.ERUnknown, "keyspace %s has no serving shards", r.Keyspace.Name)
	}
	targets, err := r.lookupTargets(ctx, exec, bv, set)
	if err != nil {
		return nil, err
	}
	return r.render(targets, bv)
}

// render renders the statement for each target.
func (r *Route) render(targets []shardTarget, bv BindVars) ([]ShardQuery, error) {
	qs := make([]ShardQuery, len(targets))
	base := bvLookup(bv)
	for i, t := range targets {
		lookup := base
		if r.ListBind != "" {
			vals := t.vals
			lookup = func(name string) (any, bool) {
				if name == r.ListBind {
					return vals, true
				}
				return base(name)
			}
		}
		sql, err := r.Query.render(lookup)
		if err != nil {
			return nil, err
		}
		qs[i] = ShardQuery{Keyspace: r.Keyspace.Name, Shard: t.shard, SQL: sql, Lock: r.Opcode == Lock}
	}
	return qs, nil
}

func (r *Route) Execute(ctx context.Context, exec ShardExecutor, bv BindVars) (*querypb.QueryResult, error) {
	qs, err := r.runQueries(ctx, exec, bv)
	if err != nil {
		return nil, err
	}
	results, err := exec.Execute(ctx, qs)
	if err != nil {
		return nil, err
	}
	if err := ensureCount(results, len(qs)); err != nil {
		return nil, err
	}
	var out *querypb.QueryResult
	if len(results) == 1 || r.Opcode == AllShards {
		out = results[0]
	} else if out, err = mergeResults(results, r.OrderBy); err != nil {
		return nil, err
	}
	if _, err := statementMemory(ctx).hold(out); err != nil {
		return nil, err
	}
	return out, nil
}

// mergeResults concatenates shard results, merging by keys when given.
func mergeResults(results []*querypb.QueryResult, keys []orderKey) (*querypb.QueryResult, error) {
	out := &querypb.QueryResult{}
	n := 0
	for _, res := range results {
		if res == nil {
			continue
		}
		if out.Fields == nil && len(res.Fields) > 0 {
			out.Fields = res.Fields
		}
		out.RowsAffected += res.RowsAffected
		if out.InsertId == 0 {
			out.InsertId = res.InsertId
		}
		out.Warnings += res.Warnings
		n += len(res.Rows)
	}
	out.Rows = make([][]byte, 0, n)
	for _, res := range results {
		if res != nil {
			out.Rows = append(out.Rows, res.Rows...)
		}
	}
	if len(keys) > 0 && len(out.Rows) > 1 {
		if err := sortResult(out, keys); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Stream streams a route's rows as they come: an unordered route's in
// the order the shards send them, an ordered one's as a k-way merge of
// the shards' sorted streams (mergeStream).
func (r *Route) Stream(ctx context.Context, exec ShardExecutor, bv BindVars, callback func(*querypb.QueryResult) error) error {
	qs, err := r.runQueries(ctx, exec, bv)
	if err != nil {
		return err
	}
	if len(qs) > 1 && r.Opcode == AllShards {
		return streamViaExecute(ctx, r, exec, bv, callback)
	}
	if len(qs) > 1 && len(r.OrderBy) > 0 {
		return mergeStream(ctx, exec, qs, r.OrderBy, callback)
	}
	rs := &routeStream{callback: callback}
	return exec.Stream(ctx, qs, rs.chunk)
}

// routeStream passes the chunks of an unordered route's shard streams on
// to the caller: the fields once, then the rows.
type routeStream struct {
	callback   func(*querypb.QueryResult) error
	mu         sync.Mutex
	sentFields bool
}

func (s *routeStream) chunk(_ int, chunk *querypb.QueryResult) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(chunk.Fields) > 0 {
		if s.sentFields {
			c := copyResult(chunk)
			c.Fields = nil
			chunk = c
		}
		s.sentFields = true
	} else if !s.sentFields && len(chunk.Rows) > 0 {
		return sqlerr.New(sqlerr.ERUnknown, "shard stream sent rows before fields")
	}
	if len(chunk.Fields) == 0 && len(chunk.Rows) == 0 && chunk.RowsAffected == 0 {
		return nil
	}
	return s.callback(chunk)
}

func (r *Route) Describe() map[string]any {
	d := map[string]any{
		"operator": "Route",
		"variant":  r.Opcode.String(),
		"keyspace": r.Keyspace.Name,
		"query":    r.Query.display,
	}
	if r.Lookup != nil {
		d["lookup"] = r.Lookup.describe()
	}
	if r.Vindex != nil && (r.Opcode == EqualUnique || r.Opcode == IN || r.Opcode == ByLookup) {
		d["vindex"] = r.VindexName
		vals := make([]string, len(r.Values))
		for i, v := range r.Values {
			vals[i] = v.String()
		}
		d["values"] = vals
	}
	if len(r.OrderBy) > 0 {
		d["order_by"] = describeKeys(r.OrderBy)
	}
	return d
}

func describeKeys(keys []orderKey) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		s := describeCol(k.col)
		if k.desc {
			s += " DESC"
		} else {
			s += " ASC"
		}
		if k.hasWeight {
			s += " weight " + describeCol(k.weight)
		}
		out[i] = s
	}
	return out
}

func describeCol(c int) string {
	if c < 0 {
		return "col(end" + itoa(c) + ")"
	}
	return "col(" + itoa(c) + ")"
}
