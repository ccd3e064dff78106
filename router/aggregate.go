package router

import (
	"bytes"
	"context"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/router/sqltypes"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// AggOp is how the gate computes one aggregate column: by merging the
// shards' partial results of the aggregate (the shards grouped), or from
// the values of every row (the gate groups rows it joined or collected).
type AggOp int

const (
	// AggAny keeps the first value: group keys and plain columns.
	AggAny AggOp = iota
	// AggCount adds per-shard counts.
	AggCount
	// AggSum adds per-shard sums, or values: exactly for integers and
	// decimals, as doubles for doubles and strings (read as MariaDB reads
	// a string in numeric context), dates and times as their numbers.
	AggSum
	AggMin
	AggMax
	// AggAvg divides the sum in its column by the count in CountCol.
	AggAvg
	// AggCountDistinct counts the distinct rows of non-NULL values of its
	// column and Args (the shards grouped by them, or the gate has every
	// row).
	AggCountDistinct
	// AggSumDistinct adds the distinct non-NULL values: distinct as
	// numbers, as MariaDB converts the values before it compares them.
	AggSumDistinct
	// AggAvgDistinct averages the distinct non-NULL values.
	AggAvgDistinct
	// AggCountRows counts rows: COUNT(*) over rows the gate has.
	AggCountRows
	// AggCountValues counts non-NULL values: COUNT(x) over rows the gate
	// has.
	AggCountValues
	// AggAvgValues averages non-NULL values the gate has.
	AggAvgValues
	// AggGroupConcat concatenates the values the gate has (GROUP_CONCAT).
	AggGroupConcat
	// AggBitAnd, AggBitOr and AggBitXor combine unsigned 64-bit values:
	// per-shard results combine as values do.
	AggBitAnd
	AggBitOr
	AggBitXor
	// AggStdPop, AggStdSamp, AggVarPop and AggVarSamp are STD/STDDEV_POP,
	// STDDEV_SAMP, VARIANCE/VAR_POP and VAR_SAMP of the values the gate
	// has, computed as MariaDB does (a running mean and sum of squares,
	// in the order the rows come).
	AggStdPop
	AggStdSamp
	AggVarPop
	AggVarSamp
)

var aggNames = []string{"any", "count", "sum", "min", "max", "avg", "count_distinct", "sum_distinct", "avg_distinct",
	"count_rows", "count_values", "avg_values", "group_concat", "bit_and", "bit_or", "bit_xor",
	"std_pop", "std_samp", "var_pop", "var_samp"}

func (o AggOp) String() string { return aggNames[o] }

// groupConcatMaxLen is MariaDB's default group_concat_max_len: a
// GROUP_CONCAT result is cut to as many bytes (never inside a character).
const groupConcatMaxLen = 1024

// AggCol says how one column is computed.
type AggCol struct {
	Col int
	Op  AggOp
	// CountCol is the column holding the count for AggAvg.
	CountCol int
	// Weight, when HasWeight, is the column holding the shards'
	// WEIGHT_STRING of Col's values for AggMin, AggMax, AggCountDistinct
	// and AggGroupConcat with DISTINCT: text values compare by it. For
	// AggMin and AggMax it follows the chosen value.
	Weight    int
	HasWeight bool
	// Name renames the output column (the expression as the client wrote it).
	Name string
	// Args are further argument columns: COUNT(DISTINCT a, b) and
	// GROUP_CONCAT(a, b) (Col holds the first argument).
	Args []int
	// Distinct, Order and Separator are GROUP_CONCAT's: its values are
	// distinct, ordered by Order (over input columns) and joined with
	// Separator. MaxLenCol, when HasMaxLen, is a column holding the
	// session's group_concat_max_len (else groupConcatMaxLen).
	Distinct  bool
	Order     []orderKey
	Separator string
	MaxLenCol int
	HasMaxLen bool
	// Decimals is the number of decimals of an AggStd*/AggVar* result
	// (31: as many as the double needs).
	Decimals uint32
}

// Aggregate computes aggregates by group: it merges the per-shard partial
// aggregates of the shards' groups, or aggregates the rows the gate has.
// With no group keys (Scalar) it returns exactly one row, as MySQL does
// for an aggregate without GROUP BY. Rows come out sorted by the group
// keys, as MariaDB's GROUP BY returns them. Columns that are neither
// group keys nor aggregates keep the group's first row's value.
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

// aggregator accumulates one aggregate of one group.
type aggregator struct {
	ag    *AggCol
	count int64
	// sum of exact values (dec) or doubles (flt), and whether any was
	// not NULL.
	dec     *sqltypes.Decimal
	flt     float64
	nonNull bool
	// best is the MIN/MAX so far, bestW its weight.
	best, bestW []byte
	distinct    map[string]bool
	// values of GROUP_CONCAT, with their order keys (the input row).
	values [][]byte
	rows   [][][]byte
	bits   uint64
	// m and s are the running mean and sum of squared differences of
	// STD and VARIANCE.
	m, s float64
}

// aggInput is what an aggregate knows of its input columns.
type aggInput struct {
	fields  []*querypb.Field
	comp    *sqltypes.Comparator   // of Col (MIN, MAX, DISTINCT)
	argComp []*sqltypes.Comparator // of Args
	weight  int                    // weight column of Col, -1 for none
	// float: sums and averages are doubles.
	float bool
	// mem is the statement's memory, held what the aggregates keep of it
	// (distinct values, GROUP_CONCAT's values) and the groups.
	mem  *stmtMemory
	held *int64
}

// hold charges n bytes the aggregation keeps until it ends.
func (in *aggInput) hold(n int) error {
	if in.mem == nil {
		return nil
	}
	if err := in.mem.charge(int64(n)); err != nil {
		return err
	}
	*in.held += int64(n)
	return nil
}

func (a *Aggregate) Execute(ctx context.Context, exec ShardExecutor, bv BindVars) (*querypb.QueryResult, error) {
	// A join's rows stream through (see streamsJoin): only the groups
	// are held.
	mem := statementMemory(ctx)
	var held int64
	defer func() { mem.release(held) }()
	type group struct {
		cells [][]byte
		aggs  []aggregator
	}
	var (
		mu        sync.Mutex
		fields    []*querypb.Field
		nf        int
		keyer     *rowKeyer
		inputs    []aggInput
		groupCost int64
		groups    = map[string]*group{}
		order     []*group
	)
	newGroup := func(row [][]byte) *group {
		g := &group{cells: append([][]byte(nil), row...), aggs: make([]aggregator, len(a.Aggs))}
		for i := range a.Aggs {
			g.aggs[i].ag = &a.Aggs[i]
			g.cells[a.Aggs[i].Col] = nil
		}
		return g
	}
	begin := func(f []*querypb.Field) error {
		fields, nf = f, len(f)
		groupKeys := a.GroupKeys
		if groupKeys == nil {
			groupKeys = []int{} // not nil: nil keys every column
		}
		var err error
		if keyer, err = newRowKeyer(fields, groupKeys, a.GroupWeights); err != nil {
			return err
		}
		inputs = make([]aggInput, len(a.Aggs))
		for i := range a.Aggs {
			if inputs[i], err = a.prepare(&a.Aggs[i], fields); err != nil {
				return err
			}
			inputs[i].mem, inputs[i].held = mem, &held
		}
		groupCost = int64(nf*cellOverhead + len(a.Aggs)*aggregatorOverhead + mapEntryOverhead)
		return nil
	}
	feed := func(chunk *querypb.QueryResult) error {
		mu.Lock()
		defer mu.Unlock()
		if fields == nil {
			if len(chunk.Fields) == 0 {
				if len(chunk.Rows) > 0 {
					return sqlerr.New(sqlerr.ERUnknown, "aggregate input sent rows before fields")
				}
				return nil
			}
			if err := begin(chunk.Fields); err != nil {
				return err
			}
		}
		for _, raw := range chunk.Rows {
			row, err := sqltypes.DecodeRow(raw, nf)
			if err != nil {
				return sqlerr.Wrap(sqlerr.ERUnknown, err, "decode shard row: %v", err)
			}
			k := keyer.key(row)
			g := groups[k]
			if g == nil {
				// The group keeps its first row.
				cost := groupCost + int64(len(k)+len(raw))
				if err := mem.charge(cost); err != nil {
					return err
				}
				held += cost
				g = newGroup(row)
				groups[k] = g
				order = append(order, g)
			}
			for i := range g.aggs {
				if err := g.aggs[i].add(row, &inputs[i]); err != nil {
					return err
				}
			}
		}
		return nil
	}
	var err error
	if streamsJoin(a.Input) {
		err = a.Input.Stream(ctx, exec, bv, feed)
	} else {
		var res *querypb.QueryResult
		if res, err = a.Input.Execute(ctx, exec, bv); err == nil {
			err = feed(res)
			mem.release(resultSize(res))
		}
	}
	if err != nil {
		return nil, err
	}
	if fields == nil {
		return nil, sqlerr.New(sqlerr.ERUnknown, "aggregate input sent no column definitions")
	}
	if len(order) == 0 && a.Scalar {
		order = append(order, newGroup(make([][]byte, nf)))
	}
	outFields := make([]*querypb.Field, nf)
	copy(outFields, fields)
	for i, ag := range a.Aggs {
		outFields[ag.Col] = aggField(&ag, fields, inputs[i].float)
	}
	out := &querypb.QueryResult{Fields: outFields}
	final := make([][][]byte, len(order))
	for i, g := range order {
		for j := range g.aggs {
			v, err := g.aggs[j].result(outFields[a.Aggs[j].Col], &inputs[j])
			if err != nil {
				return nil, err
			}
			g.cells[a.Aggs[j].Col] = v
		}
		final[i] = g.cells
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
	if _, err := mem.hold(out); err != nil {
		return nil, err
	}
	return out, nil
}

// streamsJoin says whether p is a join, alone or under filters and
// projections, whose rows an operator above should take as a stream: a
// join's output may be far bigger than its inputs, and comes in its left
// side's order either way. Other inputs are taken whole, in shard order:
// the shards have grouped or deduplicated them already, and which row of
// a group an aggregate keeps does not then depend on which shard answered
// first.
func streamsJoin(p Primitive) bool {
	for {
		switch op := p.(type) {
		case *Join:
			return true
		case *Filter:
			p = op.Input
		case *Project:
			p = op.Input
		default:
			return false
		}
	}
}

// prepare checks an aggregate's columns against the input's fields.
func (a *Aggregate) prepare(ag *AggCol, fields []*querypb.Field) (aggInput, error) {
	nf := len(fields)
	in := aggInput{fields: fields, weight: -1}
	cols := append([]int{ag.Col}, ag.Args...)
	if ag.Op == AggAvg {
		cols = append(cols, ag.CountCol)
	}
	if ag.HasMaxLen {
		cols = append(cols, ag.MaxLenCol)
	}
	for _, c := range cols {
		if c < 0 || c >= nf {
			return in, sqlerr.New(sqlerr.ERUnknown, "aggregate column %d out of range of %d columns", c, nf)
		}
	}
	f := fields[ag.Col]
	class := sqltypes.ClassOf(f.GetType(), f.GetFlags(), f.GetCharset())
	switch ag.Op {
	case AggSum, AggAvg, AggSumDistinct, AggAvgDistinct, AggAvgValues:
		in.float = class == sqltypes.ClassFloat || class == sqltypes.ClassText ||
			(class == sqltypes.ClassBinary && f.GetType() != sqltypes.TypeBit)
		if class == sqltypes.ClassOther {
			return in, sqlerr.NotSupported("SUM or AVG of column %s (type %d) across shards", f.GetName(), f.GetType())
		}
	case AggStdPop, AggStdSamp, AggVarPop, AggVarSamp:
		in.float = true
		if class == sqltypes.ClassOther {
			return in, sqlerr.NotSupported("STD or VARIANCE of column %s (type %d) across shards", f.GetName(), f.GetType())
		}
	}
	switch ag.Op {
	case AggMin, AggMax, AggCountDistinct, AggGroupConcat:
		c, err := sqltypes.NewComparator(f)
		if err != nil {
			return in, sqlerr.NotSupported("this aggregate across shards: %v", err)
		}
		in.comp = c
		if ag.HasWeight && c.Class() == sqltypes.ClassText {
			w, err := colIndex(ag.Weight, nf)
			if err != nil {
				return in, err
			}
			in.weight = w
		}
		for _, c := range ag.Args {
			ac, err := sqltypes.NewComparator(fields[c])
			if err != nil {
				return in, sqlerr.NotSupported("this aggregate across shards: %v", err)
			}
			in.argComp = append(in.argComp, ac)
		}
	}
	return in, nil
}

// aggField is the column definition of an aggregate's result, as MariaDB
// types it.
func aggField(ag *AggCol, fields []*querypb.Field, float bool) *querypb.Field {
	in := fields[ag.Col]
	f := proto.Clone(in).(*querypb.Field)
	setNumber := func(typ, decimals uint32) {
		f.Type, f.Decimals, f.Charset = typ, decimals, sqltypes.CollationBinary
		f.Flags &^= sqltypes.FlagBinary | sqltypes.FlagNotNull
	}
	// scale is the input's decimals where they count.
	scale := uint32(0)
	switch sqltypes.ClassOf(in.GetType(), in.GetFlags(), in.GetCharset()) {
	case sqltypes.ClassDecimal, sqltypes.ClassTemporal, sqltypes.ClassTime:
		scale = in.GetDecimals()
	case sqltypes.ClassFloat:
		scale = in.GetDecimals()
	}
	switch ag.Op {
	case AggCount, AggCountDistinct, AggCountRows, AggCountValues:
		setNumber(sqltypes.TypeLonglong, 0)
		f.Flags = f.Flags&^sqltypes.FlagUnsigned | sqltypes.FlagNotNull
		f.ColumnLength = 21
	case AggSum, AggSumDistinct:
		if float {
			setNumber(sqltypes.TypeDouble, min(scale, 31))
			if in.GetType() != sqltypes.TypeDouble && in.GetType() != sqltypes.TypeFloat {
				f.Decimals = 31
			}
		} else if in.GetType() != sqltypes.TypeNewDecimal || ag.Op == AggSumDistinct {
			setNumber(sqltypes.TypeNewDecimal, min(scale, 38))
		}
	case AggAvg:
		if !float {
			setNumber(sqltypes.TypeNewDecimal, min(in.GetDecimals()+4, 38))
		}
	case AggAvgDistinct, AggAvgValues:
		if float {
			setNumber(sqltypes.TypeDouble, 31)
			if in.GetType() == sqltypes.TypeDouble || in.GetType() == sqltypes.TypeFloat {
				f.Decimals = in.GetDecimals()
			}
		} else {
			setNumber(sqltypes.TypeNewDecimal, min(scale+4, 38))
		}
	case AggBitAnd, AggBitOr, AggBitXor:
		setNumber(sqltypes.TypeLonglong, 0)
		f.Flags |= sqltypes.FlagUnsigned | sqltypes.FlagNotNull
		f.ColumnLength = 21
	case AggStdPop, AggStdSamp, AggVarPop, AggVarSamp:
		setNumber(sqltypes.TypeDouble, ag.Decimals)
	case AggGroupConcat:
		f.Type, f.Decimals = sqltypes.TypeVarString, 0
		f.Flags &^= sqltypes.FlagNotNull | sqltypes.FlagUnsigned
		if sqltypes.ClassOf(in.GetType(), in.GetFlags(), in.GetCharset()) != sqltypes.ClassText && in.GetCharset() != sqltypes.CollationBinary {
			f.Charset = 45
		}
		if in.GetCharset() == sqltypes.CollationBinary && sqltypes.ClassOf(in.GetType(), in.GetFlags(), in.GetCharset()).IsNumeric() {
			f.Charset = 45
		}
		f.ColumnLength = groupConcatMaxLen
	}
	if ag.Name != "" {
		f.Name = ag.Name
	}
	return f
}

// number reads a value for SUM and AVG: its number as text, and whether
// it is a double.
func (in *aggInput) number(col int, cell []byte) ([]byte, error) {
	t, _, err := sqltypes.NumberText(in.fields[col], cell)
	if err != nil {
		return nil, sqlerr.NotSupported("%v", err)
	}
	return t, nil
}

// addNumber adds one number to the sum.
func (st *aggregator) addNumber(text []byte, float bool) error {
	st.nonNull = true
	if float {
		v, err := strconv.ParseFloat(string(text), 64)
		if err != nil {
			return sqlerr.New(sqlerr.ERUnknown, "bad double %q from shard", text)
		}
		st.flt += v
		return nil
	}
	d, err := sqltypes.ParseDecimal(text)
	if err != nil {
		return sqlerr.New(sqlerr.ERUnknown, "bad number %q from shard", text)
	}
	if st.dec == nil {
		st.dec = &d
	} else {
		st.dec.Add(&d)
	}
	return nil
}

func parseCount(c []byte) (int64, error) {
	n, err := strconv.ParseInt(string(c), 10, 64)
	if err != nil {
		return 0, sqlerr.New(sqlerr.ERUnknown, "bad count %q from shard", c)
	}
	return n, nil
}

func (st *aggregator) add(row [][]byte, in *aggInput) error {
	ag := st.ag
	cell := row[ag.Col]
	switch ag.Op {
	case AggAny:
		if st.best == nil && !st.nonNull {
			st.best, st.nonNull = cell, true
		}
	case AggCount:
		if cell != nil {
			n, err := parseCount(cell)
			if err != nil {
				return err
			}
			st.count += n
		}
	case AggCountRows:
		st.count++
	case AggCountValues:
		if cell != nil {
			st.count++
		}
	case AggSum, AggAvgValues:
		if cell == nil {
			return nil
		}
		t, err := in.number(ag.Col, cell)
		if err != nil {
			return err
		}
		st.count++
		return st.addNumber(t, in.float)
	case AggAvg:
		if cell != nil {
			t, err := in.number(ag.Col, cell)
			if err != nil {
				return err
			}
			if err := st.addNumber(t, in.float); err != nil {
				return err
			}
		}
		if c := row[ag.CountCol]; c != nil {
			n, err := parseCount(c)
			if err != nil {
				return err
			}
			st.count += n
		}
	case AggMin, AggMax:
		if cell == nil {
			return nil
		}
		var c int
		w := in.weight
		switch {
		case st.best == nil:
			c = -1
			if ag.Op == AggMax {
				c = 1
			}
		case w >= 0 && row[w] != nil && st.bestW != nil:
			c = bytes.Compare(row[w], st.bestW)
		default:
			c = in.comp.Compare(cell, st.best)
		}
		if (ag.Op == AggMin && c < 0) || (ag.Op == AggMax && c > 0) {
			st.best = cell
			if w >= 0 {
				st.bestW = row[w]
			}
		}
	case AggCountDistinct:
		if cell == nil {
			return nil
		}
		k := cellKey(row, ag.Col, in.weight, in.comp)
		for i, c := range ag.Args {
			if row[c] == nil {
				return nil
			}
			ak := in.argComp[i].Key(row[c])
			k = append(append(k, strconv.Itoa(len(ak))...), ak...)
		}
		if st.seen(string(k)) {
			if err := in.hold(len(k) + mapEntryOverhead); err != nil {
				return err
			}
			st.count++
		}
	case AggSumDistinct, AggAvgDistinct:
		if cell == nil {
			return nil
		}
		t, err := in.number(ag.Col, cell)
		if err != nil {
			return err
		}
		var k string
		if in.float {
			f, _ := strconv.ParseFloat(string(t), 64)
			k = strconv.FormatFloat(f+0, 'g', -1, 64) // -0 is 0
		} else {
			k = sqltypes.NormalizeDecimalText(t)
		}
		if !st.seen(k) {
			return nil
		}
		if err := in.hold(len(k) + mapEntryOverhead); err != nil {
			return err
		}
		st.count++
		return st.addNumber(t, in.float)
	case AggGroupConcat:
		if cell == nil {
			return nil
		}
		v := cell
		if len(ag.Args) > 0 {
			v = append([]byte(nil), cell...)
			for _, c := range ag.Args {
				if row[c] == nil {
					return nil
				}
				v = append(v, row[c]...)
			}
		}
		if ag.Distinct {
			k := cellKey(row, ag.Col, in.weight, in.comp)
			for i, c := range ag.Args {
				ak := in.argComp[i].Key(row[c])
				k = append(append(k, strconv.Itoa(len(ak))...), ak...)
			}
			if !st.seen(string(k)) {
				return nil
			}
			if err := in.hold(len(k) + mapEntryOverhead); err != nil {
				return err
			}
		}
		if err := in.hold(len(v) + 2*rowOverhead); err != nil {
			return err
		}
		st.values = append(st.values, v)
		st.rows = append(st.rows, row)
		if ag.HasMaxLen && st.best == nil {
			st.best = row[ag.MaxLenCol]
		}
	case AggBitAnd, AggBitOr, AggBitXor:
		if !st.nonNull {
			st.nonNull = true
			if ag.Op == AggBitAnd {
				st.bits = math.MaxUint64
			}
		}
		if cell == nil {
			return nil
		}
		u, err := bitValue(in.fields[ag.Col], cell)
		if err != nil {
			return err
		}
		switch ag.Op {
		case AggBitAnd:
			st.bits &= u
		case AggBitOr:
			st.bits |= u
		default:
			st.bits ^= u
		}
	case AggStdPop, AggStdSamp, AggVarPop, AggVarSamp:
		if cell == nil {
			return nil
		}
		t, err := in.number(ag.Col, cell)
		if err != nil {
			return err
		}
		x, err := strconv.ParseFloat(string(t), 64)
		if err != nil {
			return sqlerr.New(sqlerr.ERUnknown, "bad number %q from shard", t)
		}
		// MariaDB's variance_fp_recurrence_next.
		st.count++
		if st.count == 1 {
			st.m, st.s = x, 0
		} else {
			prev := st.m
			st.m = prev + (x-prev)/float64(st.count)
			st.s += (x - prev) * (x - st.m)
		}
	}
	return nil
}

// seen records k and reports whether it is new.
func (st *aggregator) seen(k string) bool {
	if st.distinct == nil {
		st.distinct = map[string]bool{}
	}
	if st.distinct[k] {
		return false
	}
	st.distinct[k] = true
	return true
}

// bitValue reads a value for BIT_AND, BIT_OR and BIT_XOR: as an unsigned
// 64-bit integer, as MariaDB converts it.
func bitValue(f *querypb.Field, cell []byte) (uint64, error) {
	t, float, err := sqltypes.NumberText(f, cell)
	if err != nil {
		return 0, sqlerr.NotSupported("%v", err)
	}
	if float || bytes.IndexByte(t, '.') >= 0 {
		return 0, sqlerr.NotSupported("BIT_AND, BIT_OR or BIT_XOR of fractions or strings across shards")
	}
	if t[0] == '-' {
		i, err := strconv.ParseInt(string(t), 10, 64)
		if err != nil {
			return 0, sqlerr.NotSupported("BIT_AND, BIT_OR or BIT_XOR of %s across shards", t)
		}
		return uint64(i), nil
	}
	u, err := strconv.ParseUint(string(t), 10, 64)
	if err != nil {
		return 0, sqlerr.NotSupported("BIT_AND, BIT_OR or BIT_XOR of %s across shards", t)
	}
	return u, nil
}

func (st *aggregator) result(out *querypb.Field, in *aggInput) ([]byte, error) {
	ag := st.ag
	switch ag.Op {
	case AggAny, AggMin, AggMax:
		return st.best, nil
	case AggCount, AggCountDistinct, AggCountRows, AggCountValues:
		return strconv.AppendInt(nil, st.count, 10), nil
	case AggSum, AggSumDistinct:
		if !st.nonNull {
			return nil, nil
		}
		if in.float {
			return formatDoubleField(st.flt, out.Decimals), nil
		}
		return []byte(st.dec.Format(int(out.Decimals))), nil
	case AggAvg, AggAvgDistinct, AggAvgValues:
		if !st.nonNull || st.count == 0 {
			return nil, nil
		}
		if in.float {
			return formatDoubleField(st.flt/float64(st.count), out.Decimals), nil
		}
		d := st.dec.DivInt(st.count, int(out.Decimals))
		return []byte(d.String()), nil
	case AggBitAnd, AggBitOr, AggBitXor:
		if !st.nonNull && ag.Op == AggBitAnd {
			return []byte("18446744073709551615"), nil
		}
		return strconv.AppendUint(nil, st.bits, 10), nil
	case AggStdPop, AggStdSamp, AggVarPop, AggVarSamp:
		n := st.count
		if n == 0 || (n == 1 && (ag.Op == AggStdSamp || ag.Op == AggVarSamp)) {
			return nil, nil
		}
		v := st.s / float64(n)
		if ag.Op == AggStdSamp || ag.Op == AggVarSamp {
			v = st.s / float64(n-1)
		}
		if ag.Op == AggStdPop || ag.Op == AggStdSamp {
			v = math.Sqrt(v)
		}
		return formatDoubleField(v, out.Decimals), nil
	case AggGroupConcat:
		return st.groupConcat(in)
	}
	return nil, nil
}

// groupConcat joins the values in their order, cut to the maximum length.
func (st *aggregator) groupConcat(in *aggInput) ([]byte, error) {
	ag := st.ag
	if len(st.values) == 0 {
		return nil, nil
	}
	idx := make([]int, len(st.values))
	for i := range idx {
		idx[i] = i
	}
	if len(ag.Order) > 0 {
		cmp, err := rowComparator(in.fields, ag.Order)
		if err != nil {
			return nil, err
		}
		sort.SliceStable(idx, func(a, b int) bool { return cmp(st.rows[idx[a]], st.rows[idx[b]]) < 0 })
	}
	maxLen := groupConcatMaxLen
	if ag.HasMaxLen && st.best != nil {
		n, err := strconv.Atoi(string(st.best))
		if err != nil {
			return nil, sqlerr.New(sqlerr.ERUnknown, "bad group_concat_max_len %q from shard", st.best)
		}
		maxLen = n
	}
	var out []byte
	for i, j := range idx {
		if i > 0 {
			out = append(out, ag.Separator...)
		}
		out = append(out, st.values[j]...)
		if len(out) > maxLen {
			break
		}
	}
	if len(out) > maxLen {
		cut := maxLen
		if in.comp.Class() == sqltypes.ClassText {
			for cut > 0 && !utf8.RuneStart(out[cut]) {
				cut--
			}
		}
		out = out[:cut]
	}
	return out, nil
}

// formatDoubleField writes a double as MariaDB shows a DOUBLE column with
// decimals: that many digits after the point, or the shortest text when
// they are not fixed (31).
func formatDoubleField(f float64, decimals uint32) []byte {
	if decimals < 31 {
		return strconv.AppendFloat(nil, f, 'f', int(decimals), 64)
	}
	return sqltypes.FormatDouble(f)
}

// formatDouble writes a double as MariaDB does (sqltypes.FormatDouble).
func formatDouble(f float64) []byte { return sqltypes.FormatDouble(f) }

func (a *Aggregate) Stream(ctx context.Context, exec ShardExecutor, bv BindVars, callback func(*querypb.QueryResult) error) error {
	return streamViaExecute(ctx, a, exec, bv, callback)
}

func (a *Aggregate) Describe() map[string]any {
	aggs := make([]string, len(a.Aggs))
	for i, ag := range a.Aggs {
		var sb strings.Builder
		sb.WriteString(ag.Op.String() + "(" + itoa(ag.Col))
		for _, c := range ag.Args {
			sb.WriteString(", " + itoa(c))
		}
		if ag.Op == AggAvg {
			sb.WriteString(", count " + itoa(ag.CountCol))
		}
		if ag.HasWeight {
			sb.WriteString(", weight " + itoa(ag.Weight))
		}
		if ag.Distinct {
			sb.WriteString(", distinct")
		}
		if len(ag.Order) > 0 {
			sb.WriteString(", order " + strings.Join(describeKeys(ag.Order), " "))
		}
		if ag.Op == AggGroupConcat {
			sb.WriteString(", separator " + strconv.Quote(ag.Separator))
		}
		sb.WriteString(")")
		aggs[i] = sb.String()
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
