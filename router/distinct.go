package router

import (
	"context"

	"github.com/mosaicdb/mosaic/proto/querypb"
)

// Distinct removes duplicate rows, comparing each column with its type
// and collation; it keeps the first of each, in input order.
type Distinct struct {
	Input Primitive
}

func (d *Distinct) Inputs() []Primitive { return []Primitive{d.Input} }

func (d *Distinct) Execute(ctx context.Context, exec ShardExecutor, bv BindVars) (*querypb.QueryResult, error) {
	res, err := d.Input.Execute(ctx, exec, bv)
	if err != nil {
		return nil, err
	}
	rows, err := decodeRows(res)
	if err != nil {
		return nil, err
	}
	keyer, err := newRowKeyer(res.Fields, nil, nil)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	out := copyResult(res)
	out.Rows = nil
	// The keys seen are held until the rows are deduplicated.
	mem := statementMemory(ctx)
	var keys int64
	defer func() { mem.release(keys) }()
	for i, r := range rows {
		k := keyer.key(r)
		if seen[k] {
			continue
		}
		seen[k] = true
		if err := mem.charge(int64(len(k) + mapEntryOverhead)); err != nil {
			return nil, err
		}
		keys += int64(len(k) + mapEntryOverhead)
		out.Rows = append(out.Rows, res.Rows[i])
	}
	if err := mem.swap(res, out); err != nil {
		return nil, err
	}
	return out, nil
}

func (d *Distinct) Stream(ctx context.Context, exec ShardExecutor, bv BindVars, callback func(*querypb.QueryResult) error) error {
	return streamViaExecute(ctx, d, exec, bv, callback)
}

func (d *Distinct) Describe() map[string]any {
	return map[string]any{"operator": "Distinct", "inputs": []any{d.Input.Describe()}}
}
