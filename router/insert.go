package router

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/router/sqltypes"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// rowsBind is the bind variable of an INSERT template that receives the
// rendered rows of one shard.
const rowsBind = "__rows"

// Insert writes rows, each to the shard of its vindex value, with one
// statement per shard. It fills an auto-increment column from its
// sequence where a row leaves it out or gives NULL or 0, and reports the
// first generated id as insert_id.
type Insert struct {
	noInputs
	Opcode   RouteOpcode // Unsharded, EqualUnique (sharded: per row), AllShards (reference)
	Keyspace *Keyspace
	Table    *Table
	// Query is the statement with its VALUES replaced by ::__rows.
	Query *sqlTemplate
	// Rows are the rows' value lists, each rendered alone.
	Rows []*sqlTemplate
	// VindexValues are the primary vindex column's value in each row.
	VindexValues []valueSource
	// Sequence, when set, fills SeqBinds[i] for each row: from SeqValues[i]
	// when the row gives a value other than NULL or 0, else from the
	// sequence.
	Sequence  *Table
	SeqBinds  []string
	SeqValues []*valueSource
	seqs      *sequences
	// Lookups are the lookup vindexes the table owns, with each row's
	// value of their column: the rows' entries are added (lookup_write.go).
	Lookups []insertLookup
	// Returning is set when Query ends in a RETURNING clause: the shards
	// return the rows they wrote, which Execute puts back in the order of
	// the statement's rows.
	Returning bool
}

func (ins *Insert) Execute(ctx context.Context, exec ShardExecutor, bv BindVars) (*querypb.QueryResult, error) {
	var firstID uint64
	if ins.Sequence != nil {
		bv = withBinds(bv)
		var need []int
		for i, name := range ins.SeqBinds {
			if src := ins.SeqValues[i]; src != nil {
				vals, err := src.resolve(bv)
				if err != nil {
					return nil, err
				}
				if len(vals) == 1 && !isNullOrZero(vals[0]) {
					bv[name] = vals[0]
					continue
				}
			}
			need = append(need, i)
		}
		if len(need) > 0 {
			ids, err := ins.seqs.reserve(ctx, exec, ins.Sequence, len(need))
			if err != nil {
				return nil, err
			}
			for k, i := range need {
				bv[ins.SeqBinds[i]] = ids[k]
			}
			firstID = uint64(ids[0])
		}
	}
	qs, rowsOf, err := ins.queries(bv)
	if err != nil {
		return nil, err
	}
	var maint *lookupMaint
	if len(ins.Lookups) > 0 {
		if maint, err = ins.lookupChanges(bv); err != nil {
			return nil, err
		}
		if err := maint.before(ctx, exec); err != nil {
			return nil, err
		}
	}
	ownerExec := exec
	if maint != nil {
		ownerExec = maint.ownerExec(exec)
	}
	results, err := ownerExec.Execute(ctx, qs)
	if err != nil {
		if maint != nil {
			maint.undo(ctx, exec, maint.changes)
		}
		return nil, err
	}
	if maint != nil {
		if err := maint.after(ctx, exec); err != nil {
			return nil, err
		}
	}
	if err := ensureCount(results, len(qs)); err != nil {
		return nil, err
	}
	out := &querypb.QueryResult{}
	switch {
	case ins.Opcode == AllShards:
		out = copyResult(results[0])
	case ins.Returning:
		out = returnedRows(results, rowsOf)
	default:
		for _, r := range results {
			out.RowsAffected += r.RowsAffected
			out.Warnings += r.Warnings
			if out.InsertId == 0 {
				out.InsertId = r.InsertId
			}
		}
		out.Info = insertInfo(results, rowsOf)
	}
	if firstID != 0 {
		out.InsertId = firstID
	}
	return out, nil
}

// queries renders one statement per shard once sequence values are bound.
// rowsOf[i] lists the statement's rows (by index) that query i writes, in
// the order it writes them.
func (ins *Insert) queries(bv BindVars) (qs []ShardQuery, rowsOf [][]int, err error) {
	rendered := make([]string, len(ins.Rows))
	for i, r := range ins.Rows {
		s, err := r.render(bvLookup(bv))
		if err != nil {
			return nil, nil, err
		}
		rendered[i] = s
	}
	all := make([]int, len(rendered))
	for i := range all {
		all[i] = i
	}
	var shards []string
	perShard := map[string][]string{}
	perShardRows := map[string][]int{}
	switch ins.Opcode {
	case Unsharded:
		shards = []string{ins.Keyspace.Shards[0]}
		perShard[shards[0]] = rendered
		perShardRows[shards[0]] = all
	case AllShards:
		shards = ins.Keyspace.Shards
		for _, s := range shards {
			perShard[s] = rendered
			perShardRows[s] = all
		}
	default:
		for i, src := range ins.VindexValues {
			vals, err := src.resolve(bv)
			if err != nil {
				return nil, nil, err
			}
			if len(vals) != 1 || vals[0] == nil {
				return nil, nil, sqlerr.New(sqlerr.ERWrongArguments, "INSERT into %s: the value of vindex column %s cannot be NULL", ins.Table.Name, ins.Table.PrimaryVindex().Column)
			}
			ksid, ok := ins.Table.PrimaryVindex().Vindex.Map(vals[0])
			if !ok {
				return nil, nil, sqlerr.New(sqlerr.ERWrongArguments, "INSERT into %s: value %v of vindex column %s cannot be mapped by vindex %s", ins.Table.Name, vals[0], ins.Table.PrimaryVindex().Column, ins.Table.PrimaryVindex().Name)
			}
			shard, ok := ins.Keyspace.ShardForKeyspaceID(ksid)
			if !ok {
				return nil, nil, sqlerr.New(sqlerr.ERUnknown, "no shard of keyspace %s holds keyspace id %x", ins.Keyspace.Name, ksid)
			}
			if _, ok := perShard[shard]; !ok {
				shards = append(shards, shard)
			}
			perShard[shard] = append(perShard[shard], rendered[i])
			perShardRows[shard] = append(perShardRows[shard], i)
		}
	}
	if len(shards) == 0 {
		return nil, nil, sqlerr.New(sqlerr.ERUnknown, "keyspace %s has no serving shards", ins.Keyspace.Name)
	}
	qs = make([]ShardQuery, len(shards))
	rowsOf = make([][]int, len(shards))
	for i, s := range shards {
		rowsOf[i] = perShardRows[s]
		rows := rawSQL(strings.Join(perShard[s], "), ("))
		sql, err := ins.Query.render(func(name string) (any, bool) {
			if name == rowsBind {
				return rows, true
			}
			v, ok := bv[name]
			return v, ok
		})
		if err != nil {
			return nil, nil, err
		}
		qs[i] = ShardQuery{Keyspace: ins.Keyspace.Name, Shard: s, SQL: sql}
	}
	return qs, rowsOf, nil
}

// insertLookup is a lookup vindex an INSERT maintains: values[i] is row
// i's value of its column, nil when the row leaves the column out.
type insertLookup struct {
	cv     *ColumnVindex
	values []*valueSource
}

// lookupChanges returns the entries the rows add, once sequence values
// are bound.
func (ins *Insert) lookupChanges(bv BindVars) (*lookupMaint, error) {
	m := &lookupMaint{inTx: sessionInTx(bv), noBackslash: ins.Query.noBackslash}
	tos := make([]any, len(ins.VindexValues))
	for i, src := range ins.VindexValues {
		vals, err := src.resolve(bv)
		if err != nil {
			return nil, err
		}
		if len(vals) == 1 {
			tos[i] = vals[0]
		}
	}
	for _, il := range ins.Lookups {
		c := &lookupChange{cv: il.cv, owner: ins.Table}
		for i, src := range il.values {
			if src == nil || i >= len(tos) || tos[i] == nil {
				continue
			}
			vals, err := src.resolve(bv)
			if err != nil {
				return nil, err
			}
			if len(vals) != 1 || vals[0] == nil {
				continue
			}
			c.add = append(c.add, lookupEntry{from: vals[0], to: tos[i]})
		}
		m.changes = append(m.changes, c)
	}
	return m, nil
}

func isNullOrZero(v any) bool {
	if v == nil {
		return true
	}
	i, u, unsigned, ok := sqltypes.ToInteger(v)
	if _, isStr := v.(string); isStr {
		return false
	}
	return ok && !unsigned && i == 0 && u == 0
}

func (ins *Insert) Stream(ctx context.Context, exec ShardExecutor, bv BindVars, callback func(*querypb.QueryResult) error) error {
	return streamViaExecute(ctx, ins, exec, bv, callback)
}

func (ins *Insert) Describe() map[string]any {
	rows := make([]string, len(ins.Rows))
	for i, r := range ins.Rows {
		rows[i] = r.display
	}
	d := map[string]any{
		"operator": "Insert", "variant": ins.Opcode.String(), "keyspace": ins.Keyspace.Name,
		"query": ins.Query.display, "rows": rows,
	}
	if len(ins.VindexValues) > 0 {
		vals := make([]string, len(ins.VindexValues))
		for i, v := range ins.VindexValues {
			vals[i] = v.String()
		}
		d["vindex"] = ins.Table.PrimaryVindex().Name
		d["values"] = vals
	}
	if len(ins.Lookups) > 0 {
		var l []any
		for _, il := range ins.Lookups {
			l = append(l, describeLookupWrite(il.cv))
		}
		d["lookups"] = l
	}
	if ins.Sequence != nil {
		d["sequence"] = ins.Sequence.Keyspace.Name + "." + ins.Sequence.Name
		d["sequence_binds"] = ins.SeqBinds
	}
	return d
}

// rawSQL is SQL text substituted verbatim into a template.
type rawSQL string

var _ = strconv.Itoa

// returnedRows merges the rows the shards returned for INSERT ...
// RETURNING into the order of the statement's rows, which is the order
// MariaDB returns them in: shard i returned its rows rowsOf[i] in order.
// When a shard returned another number of rows (INSERT IGNORE skipping
// duplicates) the rows cannot be matched up, and they come shard after
// shard.
func returnedRows(results []*querypb.QueryResult, rowsOf [][]int) *querypb.QueryResult {
	out := &querypb.QueryResult{}
	total, matched := 0, true
	for i, r := range results {
		if out.Fields == nil && len(r.Fields) > 0 {
			out.Fields = r.Fields
		}
		out.RowsAffected += r.RowsAffected
		out.Warnings += r.Warnings
		if out.InsertId == 0 {
			out.InsertId = r.InsertId
		}
		if len(r.Rows) != len(rowsOf[i]) {
			matched = false
		}
		total += len(r.Rows)
	}
	if !matched {
		out.Rows = make([][]byte, 0, total)
		for _, r := range results {
			out.Rows = append(out.Rows, r.Rows...)
		}
		return out
	}
	n := 0
	for _, rows := range rowsOf {
		for _, i := range rows {
			n = max(n, i+1)
		}
	}
	placed := make([][]byte, n)
	for i, r := range results {
		for k, row := range r.Rows {
			placed[rowsOf[i][k]] = row
		}
	}
	out.Rows = make([][]byte, 0, total)
	for _, row := range placed {
		if row != nil {
			out.Rows = append(out.Rows, row)
		}
	}
	return out
}

// insertInfo is the info of an INSERT split over shards as mysqld writes
// it for the whole statement, "Records: R  Duplicates: D  Warnings: W",
// summed over the shards. A shard given one row answers without it, as
// mysqld answers a one-row INSERT: that row is a record, and a duplicate
// when it did not affect exactly one row (REPLACE and ON DUPLICATE KEY
// UPDATE count 2 or 0, INSERT IGNORE 0). One shard's info is its own.
func insertInfo(results []*querypb.QueryResult, rowsOf [][]int) string {
	if len(results) == 1 {
		return results[0].Info
	}
	var records, dups, warnings uint64
	for i, r := range results {
		var rec, dup, warn uint64
		if _, err := fmt.Sscanf(r.Info, "Records: %d  Duplicates: %d  Warnings: %d", &rec, &dup, &warn); err == nil {
			records, dups, warnings = records+rec, dups+dup, warnings+warn
			continue
		}
		if r.Info != "" || i >= len(rowsOf) || len(rowsOf[i]) != 1 {
			return ""
		}
		records++
		if r.RowsAffected != 1 {
			dups++
		}
		warnings += uint64(r.Warnings)
	}
	return fmt.Sprintf("Records: %d  Duplicates: %d  Warnings: %d", records, dups, warnings)
}
