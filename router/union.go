package router

import (
	"context"
	"slices"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/router/sqltypes"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// Union runs its sources one after the other and appends their rows:
// UNION ALL, and UNION DISTINCT where Distinct says. Each column is typed
// from every source as MariaDB types a UNION's columns (1 and 1.0 make a
// DECIMAL, 1 and '1' a string: sqltypes.UnionFields), and every source's
// values are converted to that type before duplicates are removed, so
// that 1 and 1.0 are one value of a DECIMAL column and two of a string
// one.
type Union struct {
	Sources []Primitive
	// Distinct[i] (i ≥ 1) says source i is joined with UNION DISTINCT:
	// once its rows are appended, duplicates among all rows so far are
	// removed (the first of each is kept), as MariaDB does for
	// `a UNION ALL b UNION c`.
	Distinct []bool
}

func (u *Union) Inputs() []Primitive { return u.Sources }

func (u *Union) Execute(ctx context.Context, exec ShardExecutor, bv BindVars) (*querypb.QueryResult, error) {
	results := make([]*querypb.QueryResult, len(u.Sources))
	parts := make([][]*querypb.Field, len(u.Sources))
	for i, s := range u.Sources {
		res, err := s.Execute(ctx, exec, bv)
		if err != nil {
			return nil, err
		}
		if i > 0 && len(res.Fields) != len(parts[0]) {
			return nil, sqlerr.New(1222, "The used SELECT statements have a different number of columns")
		}
		results[i], parts[i] = res, res.Fields
	}
	fields, convs, err := sqltypes.UnionFields(parts)
	if err != nil {
		return nil, sqlerr.NotSupported("this UNION across shards: %v", err)
	}
	out := &querypb.QueryResult{Fields: fields}
	var keyer *rowKeyer
	// Rows before distinctUpTo are distinct, their keys in seen.
	seen, distinctUpTo := map[string]bool{}, 0
	mem := statementMemory(ctx)
	var keys int64
	defer func() { mem.release(keys) }()
	for i, res := range results {
		conv := convs[i]
		if slices.IndexFunc(conv, func(c sqltypes.Convert) bool { return c != nil }) < 0 {
			out.Rows = append(out.Rows, res.Rows...)
		} else {
			rows, err := decodeRows(res)
			if err != nil {
				return nil, err
			}
			for _, r := range rows {
				for c, f := range conv {
					if f == nil || r[c] == nil {
						continue
					}
					if r[c], err = f(r[c]); err != nil {
						return nil, sqlerr.Wrap(sqlerr.ERUnknown, err, "UNION column %d: %v", c+1, err)
					}
				}
				out.Rows = append(out.Rows, sqltypes.EncodeRow(r))
			}
		}
		if i == 0 || i >= len(u.Distinct) || !u.Distinct[i] {
			continue
		}
		if keyer == nil {
			if keyer, err = newRowKeyer(fields, nil, nil); err != nil {
				return nil, err
			}
		}
		kept := out.Rows[:distinctUpTo]
		for _, raw := range out.Rows[distinctUpTo:] {
			cells, err := sqltypes.DecodeRow(raw, len(fields))
			if err != nil {
				return nil, sqlerr.Wrap(sqlerr.ERUnknown, err, "decode shard row: %v", err)
			}
			k := keyer.key(cells)
			if seen[k] {
				continue
			}
			seen[k] = true
			if err := mem.charge(int64(len(k) + mapEntryOverhead)); err != nil {
				return nil, err
			}
			keys += int64(len(k) + mapEntryOverhead)
			kept = append(kept, raw)
		}
		out.Rows, distinctUpTo = kept, len(kept)
	}
	// The sources' rows are the output's now (or copies of them).
	for _, res := range results {
		mem.release(resultSize(res))
	}
	if _, err := mem.hold(out); err != nil {
		return nil, err
	}
	return out, nil
}

func (u *Union) Stream(ctx context.Context, exec ShardExecutor, bv BindVars, callback func(*querypb.QueryResult) error) error {
	return streamViaExecute(ctx, u, exec, bv, callback)
}

func (u *Union) Describe() map[string]any {
	in := make([]any, len(u.Sources))
	for i, s := range u.Sources {
		in[i] = s.Describe()
	}
	d := map[string]any{"operator": "Union", "variant": "All", "inputs": in}
	var distinct []int
	for i, dd := range u.Distinct {
		if dd && i > 0 {
			distinct = append(distinct, i)
		}
	}
	switch {
	case len(distinct) == len(u.Sources)-1:
		d["variant"] = "Distinct"
	case len(distinct) > 0:
		d["variant"] = "Mixed"
		d["distinct_after"] = distinct
	}
	return d
}
