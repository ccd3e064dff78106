package router

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/router/sqltypes"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// joinBatchSize bounds the join keys sent to the right side at once.
const joinBatchSize = 500

// joinCol is one output column of a Join.
type joinCol struct {
	right bool
	idx   int
}

// Join joins the rows of two inputs that live on different shards: it
// runs Left, collects the distinct non-NULL values of its LeftKey column,
// runs Right with them bound as the list JoinBind (in batches; Right's
// query has `key IN ::JoinBind` and routes by it when the key is a
// vindex column), and matches rows by equal keys, comparing with the
// right column's type and collation. A left join keeps unmatched left
// rows with NULLs on the right. Rows come out in Left's order.
type Join struct {
	Left, Right       Primitive
	JoinBind          string
	LeftKey, RightKey int
	LeftJoin          bool
	// LeftHidden and RightHidden are trailing columns of each side the
	// output does not show (join keys, sort keys).
	LeftHidden, RightHidden int
	// Cols chooses the output columns; nil means every shown left column
	// then every shown right column (right then left with RightFirst: a
	// RIGHT JOIN's SELECT *, planned as a LEFT JOIN the other way round).
	Cols       []joinCol
	RightFirst bool
	// Wild: the output is every shown left column but the last LeftPlain
	// ones, then every shown right column but the last RightPlain ones
	// (swapped with RightFirst), then Cols: a select list of t.* then
	// plain columns.
	Wild                  bool
	LeftPlain, RightPlain int
	// Hidden are extra output columns at the end (for a Sort above).
	Hidden []joinCol
	// LeftWeight and RightWeight, when HasWeights, hold the shards'
	// WEIGHT_STRING of each side's key: text keys match by them.
	LeftWeight, RightWeight int
	HasWeights              bool
	// Vars, when set, make the join a nested loop (JoinBind and the keys
	// are then unused): Right runs once per distinct left row, with each
	// Vars column of the row bound as its Bind, and every row it returns
	// matches that left row. Right's query holds the join conditions over
	// both sides, with the left's columns as these bind variables.
	Vars []JoinVar
	// Looped says Right ran per left row without any Vars (a cross join):
	// it then runs once.
	Looped bool
	// LeftGuard, when HasGuard, is a left column (negative: from the end)
	// holding a LEFT JOIN's ON conditions on the left table alone, which
	// the left side computes: a left row for which it is not true joins
	// nothing and is kept with NULLs.
	LeftGuard int
	HasGuard  bool
}

// guardOf returns, for a left row, whether it may join: the column at g
// (-1: no guard) is true (not NULL, not 0).
func guardOf(row [][]byte, g int) bool {
	if g < 0 {
		return true
	}
	c := row[g]
	if c == nil {
		return false
	}
	f, err := strconv.ParseFloat(string(c), 64)
	return err == nil && f != 0
}

// JoinVar binds a left column (negative: from the end) for a nested
// loop's right side.
type JoinVar struct {
	Bind string
	Col  int
}

func (j *Join) Inputs() []Primitive { return []Primitive{j.Left, j.Right} }

func (j *Join) Execute(ctx context.Context, exec ShardExecutor, bv BindVars) (*querypb.QueryResult, error) {
	return j.join(ctx, exec, bv, nil)
}

// Stream streams the joined rows in chunks as they are made: the inputs
// are held while joining, the output is not.
func (j *Join) Stream(ctx context.Context, exec ShardExecutor, bv BindVars, callback func(*querypb.QueryResult) error) error {
	_, err := j.join(ctx, exec, bv, callback)
	return err
}

// join runs the join. With a callback it hands the output to it in
// chunks and returns nil; without, it returns the whole output, charged
// to the statement's memory.
func (j *Join) join(ctx context.Context, exec ShardExecutor, bv BindVars, callback func(*querypb.QueryResult) error) (*querypb.QueryResult, error) {
	lres, err := j.Left.Execute(ctx, exec, bv)
	if err != nil {
		return nil, err
	}
	lrows, err := decodeRows(lres)
	if err != nil {
		return nil, err
	}
	// The inputs are held until the output is built, then given back.
	mem := statementMemory(ctx)
	var held int64
	defer func() { mem.release(held) }()
	held += resultSize(lres)
	if j.Vars != nil || j.Looped {
		return j.nestedLoop(ctx, exec, bv, lres, lrows, &held, callback)
	}
	lk, err := colIndex(j.LeftKey, len(lres.Fields))
	if err != nil {
		return nil, err
	}
	lcomp, err := sqltypes.NewComparator(lres.Fields[lk])
	if err != nil {
		return nil, sqlerr.NotSupported("this join key across shards: %v", err)
	}
	g := -1
	if j.HasGuard {
		if g, err = colIndex(j.LeftGuard, len(lres.Fields)); err != nil {
			return nil, err
		}
	}
	var keys []any
	seen := map[string]bool{}
	for _, r := range lrows {
		if r[lk] == nil || !guardOf(r, g) {
			continue
		}
		k := string(lcomp.Key(r[lk]))
		if !seen[k] {
			seen[k] = true
			keys = append(keys, cellValue(r[lk], lres.Fields[lk]))
		}
	}
	var rfields []*querypb.Field
	var rrows [][][]byte
	for start := 0; start == 0 || start < len(keys); start += joinBatchSize {
		batch := keys[start:min(start+joinBatchSize, len(keys))]
		rres, err := j.Right.Execute(ctx, exec, withBinds(bv, j.JoinBind, append([]any{}, batch...)))
		if err != nil {
			return nil, err
		}
		held += resultSize(rres)
		if rfields == nil {
			rfields = rres.Fields
		}
		rows, err := decodeRows(rres)
		if err != nil {
			return nil, err
		}
		rrows = append(rrows, rows...)
	}
	rk, err := colIndex(j.RightKey, len(rfields))
	if err != nil {
		return nil, err
	}
	rcomp, err := sqltypes.NewComparator(rfields[rk])
	if err != nil {
		return nil, sqlerr.NotSupported("this join key across shards: %v", err)
	}
	// Numbers join as numbers whatever their column types; text joins by
	// the shards' weights when both sides have them, else with the right
	// column's collation.
	lw, rw := -1, -1
	if j.HasWeights && lcomp.Class() == sqltypes.ClassText && rcomp.Class() == sqltypes.ClassText {
		if lw, err = colIndex(j.LeftWeight, len(lres.Fields)); err != nil {
			return nil, err
		}
		if rw, err = colIndex(j.RightWeight, len(rfields)); err != nil {
			return nil, err
		}
	}
	keyOf := func(row [][]byte, k, w int, comp *sqltypes.Comparator) string {
		c := row[k]
		switch {
		case comp.Class().IsNumeric() && rcomp.Class().IsNumeric():
			return string(sqltypes.NormalizeDecimalText(c))
		case w >= 0 && row[w] != nil:
			return "w" + string(row[w])
		}
		return string(rcomp.Key(c))
	}
	byKey := map[string][]int{}
	for i, r := range rrows {
		if r[rk] == nil {
			continue
		}
		k := keyOf(r, rk, rw, rcomp)
		byKey[k] = append(byKey[k], i)
	}
	out, emit, flush, err := j.output(mem, lres.Fields, rfields, callback)
	if err != nil {
		return nil, err
	}
	for _, l := range lrows {
		var matches []int
		if l[lk] != nil && guardOf(l, g) {
			matches = byKey[keyOf(l, lk, lw, lcomp)]
		}
		for _, m := range matches {
			if err := emit(l, rrows[m]); err != nil {
				return nil, err
			}
		}
		if len(matches) == 0 && j.LeftJoin {
			if err := emit(l, nil); err != nil {
				return nil, err
			}
		}
	}
	return out, flush()
}

func (j *Join) Describe() map[string]any {
	v := "Inner"
	if j.LeftJoin {
		v = "Left"
	}
	if j.Vars != nil || j.Looped {
		vars := map[string]any{}
		for _, x := range j.Vars {
			vars[x.Bind] = x.Col
		}
		return j.describeShape(map[string]any{
			"operator": "NestedLoopJoin", "variant": v, "vars": vars,
			"inputs": []any{j.Left.Describe(), j.Right.Describe()},
		})
	}
	return j.describeShape(map[string]any{
		"operator": "Join", "variant": v, "join_bind": j.JoinBind,
		"left_key": j.LeftKey, "right_key": j.RightKey,
		"inputs": []any{j.Left.Describe(), j.Right.Describe()},
	})
}

// describeShape adds to d how the join's output and left rows are shaped.
func (j *Join) describeShape(d map[string]any) map[string]any {
	if j.RightFirst {
		d["right_first"] = true
	}
	if j.HasGuard {
		d["left_guard"] = j.LeftGuard
	}
	if j.Wild {
		d["wild"] = fmt.Sprintf("all shown but %d left and %d right, then %d columns", j.LeftPlain, j.RightPlain, len(j.Cols))
	}
	return d
}

// output makes the join's column definitions and the function that
// appends an output row made of a left row and a right row (nil: NULLs).
// Without a callback the rows are kept in out and charged to the
// statement's memory (a cross join fails when its rows pass the limit,
// before they are all made); with one, they go to it in chunks, the
// first with the fields, and flush sends the last (at least the fields).
func (j *Join) output(mem *stmtMemory, lfields, rfields []*querypb.Field, callback func(*querypb.QueryResult) error) (out *querypb.QueryResult, emit func(l, r [][]byte) error, flush func() error, err error) {
	nl, nr := len(lfields)-j.LeftHidden, len(rfields)-j.RightHidden
	if nl < 0 || nr < 0 {
		return nil, nil, nil, sqlerr.New(sqlerr.ERUnknown, "join input has fewer columns than hidden ones")
	}
	cols := j.Cols
	if j.Wild {
		var lcols, rcols []joinCol
		for i := 0; i < nl-j.LeftPlain; i++ {
			lcols = append(lcols, joinCol{idx: i})
		}
		for i := 0; i < nr-j.RightPlain; i++ {
			rcols = append(rcols, joinCol{right: true, idx: i})
		}
		bulk := append(lcols, rcols...)
		if j.RightFirst {
			bulk = append(rcols, lcols...)
		}
		cols = append(bulk, j.Cols...)
	} else if cols == nil {
		var lcols, rcols []joinCol
		for i := 0; i < nl; i++ {
			lcols = append(lcols, joinCol{idx: i})
		}
		for i := 0; i < nr; i++ {
			rcols = append(rcols, joinCol{right: true, idx: i})
		}
		cols = append(lcols, rcols...)
		if j.RightFirst {
			cols = append(rcols, lcols...)
		}
	}
	cols = append(append([]joinCol(nil), cols...), j.Hidden...)
	out = &querypb.QueryResult{}
	for _, c := range cols {
		fs := lfields
		if c.right {
			fs = rfields
		}
		i, err := colIndex(c.idx, len(fs))
		if err != nil {
			return nil, nil, nil, err
		}
		f := fs[i]
		if c.right && j.LeftJoin && f.Flags&sqltypes.FlagNotNull != 0 {
			cp := proto.Clone(f).(*querypb.Field)
			cp.Flags &^= sqltypes.FlagNotNull
			f = cp
		}
		out.Fields = append(out.Fields, f)
	}
	perRow := int64(rowOverhead + len(cols)*cellOverhead)
	sentFields := false
	flush = func() error {
		if callback == nil || (sentFields && len(out.Rows) == 0) {
			return nil
		}
		chunk := out
		if sentFields {
			chunk = &querypb.QueryResult{Rows: out.Rows}
		}
		sentFields = true
		out = &querypb.QueryResult{Fields: out.Fields}
		return callback(chunk)
	}
	emit = func(l, r [][]byte) error {
		cells := make([][]byte, len(cols))
		for i, c := range cols {
			if c.right {
				if r != nil {
					idx, _ := colIndex(c.idx, len(rfields))
					cells[i] = r[idx]
				}
				continue
			}
			idx, _ := colIndex(c.idx, len(lfields))
			cells[i] = l[idx]
		}
		row := sqltypes.EncodeRow(cells)
		if callback != nil {
			out.Rows = append(out.Rows, row)
			if len(out.Rows) >= streamChunkRows {
				return flush()
			}
			return nil
		}
		if err := mem.charge(perRow + int64(len(row))); err != nil {
			return err
		}
		out.Rows = append(out.Rows, row)
		return nil
	}
	return out, emit, flush, nil
}

// nestedLoop runs Right once per distinct left row, with the row's Vars
// bound, and joins the left row to every row it returns.
func (j *Join) nestedLoop(ctx context.Context, exec ShardExecutor, bv BindVars, lres *querypb.QueryResult, lrows [][][]byte, held *int64, callback func(*querypb.QueryResult) error) (*querypb.QueryResult, error) {
	cols := make([]int, len(j.Vars))
	for i, v := range j.Vars {
		c, err := colIndex(v.Col, len(lres.Fields))
		if err != nil {
			return nil, err
		}
		cols[i] = c
	}
	binds := func(row [][]byte) BindVars {
		out := make(BindVars, len(bv)+len(cols))
		for k, v := range bv {
			out[k] = v
		}
		for i, c := range cols {
			var cell []byte
			if row != nil {
				cell = row[c]
			}
			f := lres.Fields[c]
			if t, ok := sqltypes.TemporalOf(cell, f); ok && cell != nil {
				out[j.Vars[i].Bind] = t
				continue
			}
			out[j.Vars[i].Bind] = cellValue(cell, f)
		}
		return out
	}
	// Rows with the same bound values share one run of Right.
	type run struct{ rows [][][]byte }
	runs := map[string]*run{}
	var rfields []*querypb.Field
	execRight := func(row [][]byte) (*run, error) {
		var k strings.Builder
		for _, c := range cols {
			if row[c] == nil {
				k.WriteString("n;")
				continue
			}
			fmt.Fprintf(&k, "%d:%s;", len(row[c]), row[c])
		}
		if r, ok := runs[k.String()]; ok {
			return r, nil
		}
		res, err := j.Right.Execute(ctx, exec, binds(row))
		if err != nil {
			return nil, err
		}
		*held += resultSize(res)
		if rfields == nil {
			rfields = res.Fields
		}
		rows, err := decodeRows(res)
		if err != nil {
			return nil, err
		}
		r := &run{rows: rows}
		runs[k.String()] = r
		return r, nil
	}
	g := -1
	if j.HasGuard {
		var err error
		if g, err = colIndex(j.LeftGuard, len(lres.Fields)); err != nil {
			return nil, err
		}
	}
	matches := make([]*run, len(lrows))
	for i, l := range lrows {
		if !guardOf(l, g) {
			matches[i] = &run{}
			continue
		}
		r, err := execRight(l)
		if err != nil {
			return nil, err
		}
		matches[i] = r
	}
	if rfields == nil {
		// No left rows: Right still gives the column definitions.
		res, err := j.Right.Execute(ctx, exec, binds(nil))
		if err != nil {
			return nil, err
		}
		*held += resultSize(res)
		rfields = res.Fields
	}
	out, emit, flush, err := j.output(statementMemory(ctx), lres.Fields, rfields, callback)
	if err != nil {
		return nil, err
	}
	for i, l := range lrows {
		for _, r := range matches[i].rows {
			if err := emit(l, r); err != nil {
				return nil, err
			}
		}
		if len(matches[i].rows) == 0 && j.LeftJoin {
			if err := emit(l, nil); err != nil {
				return nil, err
			}
		}
	}
	return out, flush()
}
