package router

import (
	"context"

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
	// then every shown right column.
	Cols []joinCol
	// Hidden are extra output columns at the end (for a Sort above).
	Hidden []joinCol
	// LeftWeight and RightWeight, when HasWeights, hold the shards'
	// WEIGHT_STRING of each side's key: text keys match by them.
	LeftWeight, RightWeight int
	HasWeights              bool
}

func (j *Join) Inputs() []Primitive { return []Primitive{j.Left, j.Right} }

func (j *Join) Execute(ctx context.Context, exec ShardExecutor, bv BindVars) (*querypb.QueryResult, error) {
	lres, err := j.Left.Execute(ctx, exec, bv)
	if err != nil {
		return nil, err
	}
	lrows, err := decodeRows(lres)
	if err != nil {
		return nil, err
	}
	lk, err := colIndex(j.LeftKey, len(lres.Fields))
	if err != nil {
		return nil, err
	}
	lcomp, err := sqltypes.NewComparator(lres.Fields[lk])
	if err != nil {
		return nil, sqlerr.NotSupported("this join key across shards: %v", err)
	}
	var keys []any
	seen := map[string]bool{}
	for _, r := range lrows {
		if r[lk] == nil {
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
	nl, nr := len(lres.Fields)-j.LeftHidden, len(rfields)-j.RightHidden
	if nl < 0 || nr < 0 {
		return nil, sqlerr.New(sqlerr.ERUnknown, "join input has fewer columns than hidden ones")
	}
	cols := j.Cols
	if cols == nil {
		for i := 0; i < nl; i++ {
			cols = append(cols, joinCol{idx: i})
		}
		for i := 0; i < nr; i++ {
			cols = append(cols, joinCol{right: true, idx: i})
		}
	}
	cols = append(append([]joinCol(nil), cols...), j.Hidden...)
	out := &querypb.QueryResult{}
	for _, c := range cols {
		fs := lres.Fields
		if c.right {
			fs = rfields
		}
		i, err := colIndex(c.idx, len(fs))
		if err != nil {
			return nil, err
		}
		f := fs[i]
		if c.right && j.LeftJoin && f.Flags&sqltypes.FlagNotNull != 0 {
			cp := proto.Clone(f).(*querypb.Field)
			cp.Flags &^= sqltypes.FlagNotNull
			f = cp
		}
		out.Fields = append(out.Fields, f)
	}
	emit := func(l, r [][]byte) {
		cells := make([][]byte, len(cols))
		for i, c := range cols {
			if c.right {
				if r != nil {
					idx, _ := colIndex(c.idx, len(rfields))
					cells[i] = r[idx]
				}
				continue
			}
			idx, _ := colIndex(c.idx, len(lres.Fields))
			cells[i] = l[idx]
		}
		out.Rows = append(out.Rows, sqltypes.EncodeRow(cells))
	}
	for _, l := range lrows {
		var matches []int
		if l[lk] != nil {
			matches = byKey[keyOf(l, lk, lw, lcomp)]
		}
		for _, m := range matches {
			emit(l, rrows[m])
		}
		if len(matches) == 0 && j.LeftJoin {
			emit(l, nil)
		}
	}
	return out, nil
}

func (j *Join) Stream(ctx context.Context, exec ShardExecutor, bv BindVars, callback func(*querypb.QueryResult) error) error {
	return streamViaExecute(ctx, j, exec, bv, callback)
}

func (j *Join) Describe() map[string]any {
	v := "Inner"
	if j.LeftJoin {
		v = "Left"
	}
	return map[string]any{
		"operator": "Join", "variant": v, "join_bind": j.JoinBind,
		"left_key": j.LeftKey, "right_key": j.RightKey,
		"inputs": []any{j.Left.Describe(), j.Right.Describe()},
	}
}
