package router

import (
	"bytes"
	"context"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/router/sqltypes"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// rowKeyer builds grouping keys from chosen columns (all when cols is nil).
type rowKeyer struct {
	cols  []int
	comps []*sqltypes.Comparator
	// weights[i] is the column holding the WEIGHT_STRING of cols[i] when
	// that column is text, else -1.
	weights []int
}

// newRowKeyer returns a keyer over cols; weights maps a column to the
// column holding its WEIGHT_STRING (text values then key by it).
func newRowKeyer(fields []*querypb.Field, cols []int, weights map[int]int) (*rowKeyer, error) {
	if cols == nil {
		cols = make([]int, len(fields))
		for i := range cols {
			cols[i] = i
		}
	}
	k := &rowKeyer{cols: cols}
	for _, c := range cols {
		if c >= len(fields) {
			return nil, sqlerr.New(sqlerr.ERUnknown, "column %d out of range of %d result columns", c, len(fields))
		}
		comp, err := sqltypes.NewComparator(fields[c])
		if err != nil {
			return nil, sqlerr.NotSupported("grouping across shards here: %v", err)
		}
		k.comps = append(k.comps, comp)
		w := -1
		if wc, ok := weights[c]; ok && comp.Class() == sqltypes.ClassText {
			if w, err = colIndex(wc, len(fields)); err != nil {
				return nil, err
			}
		}
		k.weights = append(k.weights, w)
	}
	return k, nil
}

func (k *rowKeyer) key(row [][]byte) string {
	var sb strings.Builder
	for i, c := range k.cols {
		b := cellKey(row, c, k.weights[i], k.comps[i])
		sb.WriteString(strconv.Itoa(len(b)))
		sb.WriteByte(':')
		sb.Write(b)
	}
	return sb.String()
}

// cellKey keys the value in column col by its weight (in column w, -1 for
// none) when there is one, else by its comparator.
func cellKey(row [][]byte, col, w int, comp *sqltypes.Comparator) []byte {
	if w >= 0 && row[col] != nil && row[w] != nil {
		return append([]byte{2}, row[w]...)
	}
	return comp.Key(row[col])
}

// AggOp is how the gate merges one column of per-shard partial results.
type AggOp int

const (
	// AggAny keeps the first value: group keys and plain columns.
	AggAny AggOp = iota
	// AggCount adds per-shard counts.
	AggCount
	// AggSum adds per-shard sums exactly (decimals) or as doubles.
	AggSum
	AggMin
	AggMax
	// AggAvg divides the sum in its column by the count in CountCol.
	AggAvg
	// AggCountDistinct counts the distinct non-NULL values the shards
	// grouped by.
	AggCountDistinct
	// AggSumDistinct adds the distinct non-NULL values.
	AggSumDistinct
)

var aggNames = []string{"any", "count", "sum", "min", "max", "avg", "count_distinct", "sum_distinct"}

func (o AggOp) String() string { return aggNames[o] }

// AggCol says how one column is merged.
type AggCol struct {
	Col int
	Op  AggOp
	// CountCol is the column holding the count for AggAvg.
	CountCol int
	// Weight, when HasWeight, is the column holding the shards'
	// WEIGHT_STRING of Col's values for AggMin, AggMax, AggCountDistinct
	// and AggSumDistinct: text values compare by it. For AggMin and AggMax
	// it follows the chosen value.
	Weight    int
	HasWeight bool
	// Name renames the output column (the expression as the client wrote it).
	Name string
}

// Aggregate merges per-shard partial aggregates by group. With no group
// keys (Scalar) it returns exactly one row, as MySQL does for an
// aggregate without GROUP BY. Rows come out sorted by the group keys, as
// MariaDB's GROUP BY returns them.
type Aggregate struct {
	Input     Primitive
	GroupKeys []int
	// GroupWeights maps a group key column to the column holding its
	// WEIGHT_STRING: text group keys group and sort by it.
	GroupWeights map[int]int
	Aggs         []AggCol
	Scalar       bool
}

func (a *Aggregate) Inputs() []Primitive { return []Primitive{a.Input} }

type aggState struct {
	cells    [][]byte
	count    []int64
	dec      []*sqltypes.Decimal
	flt      []float64
	nonNull  []bool
	distinct []map[string]bool
}

func (a *Aggregate) Execute(ctx context.Context, exec ShardExecutor, bv BindVars) (*querypb.QueryResult, error) {
	res, err := a.Input.Execute(ctx, exec, bv)
	if err != nil {
		return nil, err
	}
	fields := res.Fields
	nf := len(fields)
	rows, err := decodeRows(res)
	if err != nil {
		return nil, err
	}
	groupKeys := a.GroupKeys
	if groupKeys == nil {
		groupKeys = []int{} // not nil: nil keys every column
	}
	keyer, err := newRowKeyer(fields, groupKeys, a.GroupWeights)
	if err != nil {
		return nil, err
	}
	comps := make([]*sqltypes.Comparator, nf)
	weights := make([]int, nf) // weight column of an aggregate's column, -1 for none
	for _, ag := range a.Aggs {
		if ag.Col >= nf || (ag.Op == AggAvg && ag.CountCol >= nf) {
			return nil, sqlerr.New(sqlerr.ERUnknown, "aggregate column %d out of range", ag.Col)
		}
		weights[ag.Col] = -1
		switch ag.Op {
		case AggMin, AggMax, AggCountDistinct, AggSumDistinct:
			c, err := sqltypes.NewComparator(fields[ag.Col])
			if err != nil {
				return nil, sqlerr.NotSupported("this aggregate across shards: %v", err)
			}
			comps[ag.Col] = c
			if ag.HasWeight && c.Class() == sqltypes.ClassText {
				if weights[ag.Col], err = colIndex(ag.Weight, nf); err != nil {
					return nil, err
				}
			}
		}
	}
	groups := map[string]*aggState{}
	var order []*aggState
	for _, row := range rows {
		k := keyer.key(row)
		st := groups[k]
		if st == nil {
			st = &aggState{cells: row, count: make([]int64, nf), dec: make([]*sqltypes.Decimal, nf),
				flt: make([]float64, nf), nonNull: make([]bool, nf), distinct: make([]map[string]bool, nf)}
			groups[k] = st
			order = append(order, st)
			st.cells = append([][]byte(nil), row...)
			for _, ag := range a.Aggs {
				st.cells[ag.Col] = nil
			}
		}
		for _, ag := range a.Aggs {
			if err := st.add(ag, row, fields, comps[ag.Col], weights[ag.Col]); err != nil {
				return nil, err
			}
		}
	}
	if len(order) == 0 && a.Scalar {
		st := &aggState{cells: make([][]byte, nf), count: make([]int64, nf), dec: make([]*sqltypes.Decimal, nf),
			flt: make([]float64, nf), nonNull: make([]bool, nf), distinct: make([]map[string]bool, nf)}
		order = append(order, st)
	}
	outFields := make([]*querypb.Field, nf)
	copy(outFields, fields)
	for _, ag := range a.Aggs {
		f := proto.Clone(fields[ag.Col]).(*querypb.Field)
		switch ag.Op {
		case AggCount, AggCountDistinct:
			f.Type, f.Decimals, f.Charset, f.Flags = sqltypes.TypeLonglong, 0, sqltypes.CollationBinary, f.Flags&^sqltypes.FlagUnsigned
			f.ColumnLength = 21
		case AggAvg:
			if sqltypes.ClassOf(f.Type, f.Flags, f.Charset) != sqltypes.ClassFloat {
				f.Type = sqltypes.TypeNewDecimal
				f.Decimals = min(f.Decimals+4, 30)
			}
		case AggSumDistinct:
			switch sqltypes.ClassOf(f.Type, f.Flags, f.Charset) {
			case sqltypes.ClassFloat:
				f.Type = sqltypes.TypeDouble
			default:
				f.Type = sqltypes.TypeNewDecimal
			}
		}
		if ag.Name != "" {
			f.Name = ag.Name
		}
		outFields[ag.Col] = f
	}
	out := &querypb.QueryResult{Fields: outFields}
	final := make([][][]byte, len(order))
	for i, st := range order {
		for _, ag := range a.Aggs {
			st.cells[ag.Col] = st.result(ag, outFields[ag.Col], fields[ag.Col])
		}
		final[i] = st.cells
	}
	if len(a.GroupKeys) > 0 && len(final) > 1 {
		keys := make([]orderKey, len(a.GroupKeys))
		for i, c := range a.GroupKeys {
			keys[i] = orderKey{col: c}
			if w, ok := a.GroupWeights[c]; ok {
				keys[i].weight, keys[i].hasWeight = w, true
			}
		}
		cmp, err := rowComparator(outFields, keys)
		if err != nil {
			return nil, err
		}
		sort.SliceStable(final, func(i, j int) bool { return cmp(final[i], final[j]) < 0 })
	}
	out.Rows = encodeRows(final)
	return out, nil
}

func isFloatField(f *querypb.Field) bool {
	return sqltypes.ClassOf(f.GetType(), f.GetFlags(), f.GetCharset()) == sqltypes.ClassFloat
}

func (st *aggState) addSum(col int, cell []byte, f *querypb.Field) error {
	if cell == nil {
		return nil
	}
	st.nonNull[col] = true
	if isFloatField(f) {
		v, err := strconv.ParseFloat(string(cell), 64)
		if err != nil {
			return sqlerr.New(sqlerr.ERUnknown, "bad double %q from shard", cell)
		}
		st.flt[col] += v
		return nil
	}
	d, err := sqltypes.ParseDecimal(cell)
	if err != nil {
		return sqlerr.New(sqlerr.ERUnknown, "bad number %q from shard", cell)
	}
	if st.dec[col] == nil {
		st.dec[col] = &d
	} else {
		st.dec[col].Add(&d)
	}
	return nil
}

func (st *aggState) add(ag AggCol, row [][]byte, fields []*querypb.Field, comp *sqltypes.Comparator, w int) error {
	cell := row[ag.Col]
	switch ag.Op {
	case AggAny:
		if st.cells[ag.Col] == nil && !st.nonNull[ag.Col] {
			st.cells[ag.Col] = cell
			st.nonNull[ag.Col] = true
		}
	case AggCount:
		if cell != nil {
			n, err := strconv.ParseInt(string(cell), 10, 64)
			if err != nil {
				return sqlerr.New(sqlerr.ERUnknown, "bad count %q from shard", cell)
			}
			st.count[ag.Col] += n
		}
	case AggSum:
		return st.addSum(ag.Col, cell, fields[ag.Col])
	case AggAvg:
		if err := st.addSum(ag.Col, cell, fields[ag.Col]); err != nil {
			return err
		}
		if c := row[ag.CountCol]; c != nil {
			n, err := strconv.ParseInt(string(c), 10, 64)
			if err != nil {
				return sqlerr.New(sqlerr.ERUnknown, "bad count %q from shard", c)
			}
			st.count[ag.Col] += n
		}
	case AggMin, AggMax:
		if cell == nil {
			return nil
		}
		cur := st.cells[ag.Col]
		var c int
		switch {
		case cur == nil:
			c = -1
			if ag.Op == AggMax {
				c = 1
			}
		case w >= 0 && row[w] != nil && st.cells[w] != nil:
			c = bytes.Compare(row[w], st.cells[w])
		default:
			c = comp.Compare(cell, cur)
		}
		if (ag.Op == AggMin && c < 0) || (ag.Op == AggMax && c > 0) {
			st.cells[ag.Col] = cell
			if w >= 0 {
				st.cells[w] = row[w]
			}
		}
	case AggCountDistinct, AggSumDistinct:
		if cell == nil {
			return nil
		}
		if st.distinct[ag.Col] == nil {
			st.distinct[ag.Col] = map[string]bool{}
		}
		k := string(cellKey(row, ag.Col, w, comp))
		if st.distinct[ag.Col][k] {
			return nil
		}
		st.distinct[ag.Col][k] = true
		st.count[ag.Col]++
		if ag.Op == AggSumDistinct {
			return st.addSum(ag.Col, cell, fields[ag.Col])
		}
	}
	return nil
}

func (st *aggState) result(ag AggCol, out, in *querypb.Field) []byte {
	col := ag.Col
	switch ag.Op {
	case AggAny, AggMin, AggMax:
		return st.cells[col]
	case AggCount, AggCountDistinct:
		return strconv.AppendInt(nil, st.count[col], 10)
	case AggSum, AggSumDistinct:
		if !st.nonNull[col] {
			return nil
		}
		if isFloatField(in) {
			return formatDouble(st.flt[col])
		}
		return []byte(st.dec[col].Format(int(out.Decimals)))
	case AggAvg:
		if !st.nonNull[col] || st.count[col] == 0 {
			return nil
		}
		if isFloatField(in) {
			return formatDouble(st.flt[col] / float64(st.count[col]))
		}
		d := st.dec[col].DivInt(st.count[col], int(out.Decimals))
		return []byte(d.String())
	}
	return nil
}

// formatDouble writes a double as MariaDB does: the shortest digits that
// read back the same, in fixed notation when the decimal exponent is
// between -15 and 14 (0.000000000000001, 999999999999999), else in
// scientific notation without '+' (1e15, 1.5e-16).
func formatDouble(f float64) []byte {
	if f == 0 {
		return []byte("0")
	}
	sci := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±x
	exp, _ := strconv.Atoi(sci[strings.IndexByte(sci, 'e')+1:])
	if exp >= -15 && exp <= 14 {
		return []byte(strconv.FormatFloat(f, 'f', -1, 64))
	}
	return []byte(strings.Replace(sci, "e+", "e", 1))
}

func (a *Aggregate) Stream(ctx context.Context, exec ShardExecutor, bv BindVars, callback func(*querypb.QueryResult) error) error {
	return streamViaExecute(ctx, a, exec, bv, callback)
}

func (a *Aggregate) Describe() map[string]any {
	aggs := make([]string, len(a.Aggs))
	for i, ag := range a.Aggs {
		s := ag.Op.String() + "(" + itoa(ag.Col)
		if ag.Op == AggAvg {
			s += ", count " + itoa(ag.CountCol)
		}
		if ag.HasWeight {
			s += ", weight " + itoa(ag.Weight)
		}
		aggs[i] = s + ")"
	}
	d := map[string]any{"operator": "Aggregate", "aggregates": aggs, "inputs": []any{a.Input.Describe()}}
	if len(a.GroupKeys) > 0 {
		d["group_by"] = a.GroupKeys
	}
	if len(a.GroupWeights) > 0 {
		d["group_weights"] = a.GroupWeights
	}
	if a.Scalar {
		d["variant"] = "Scalar"
	} else {
		d["variant"] = "Grouped"
	}
	return d
}
