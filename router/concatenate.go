package router

import (
	"context"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// Concatenate runs its inputs one after the other and appends their rows
// (UNION ALL). The first input names and types the columns.
type Concatenate struct {
	Sources []Primitive
}

func (c *Concatenate) Inputs() []Primitive { return c.Sources }

func (c *Concatenate) Execute(ctx context.Context, exec ShardExecutor, bv BindVars) (*querypb.QueryResult, error) {
	out := &querypb.QueryResult{}
	for i, s := range c.Sources {
		res, err := s.Execute(ctx, exec, bv)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			out.Fields = res.Fields
		} else if len(res.Fields) != len(out.Fields) {
			return nil, sqlerr.New(1222, "The used SELECT statements have a different number of columns")
		}
		out.Rows = append(out.Rows, res.Rows...)
	}
	return out, nil
}

func (c *Concatenate) Stream(ctx context.Context, exec ShardExecutor, bv BindVars, callback func(*querypb.QueryResult) error) error {
	return streamViaExecute(ctx, c, exec, bv, callback)
}

func (c *Concatenate) Describe() map[string]any {
	in := make([]any, len(c.Sources))
	for i, s := range c.Sources {
		in[i] = s.Describe()
	}
	return map[string]any{"operator": "Concatenate", "inputs": in}
}

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
	for i, r := range rows {
		k := keyer.key(r)
		if seen[k] {
			continue
		}
		seen[k] = true
		out.Rows = append(out.Rows, res.Rows[i])
	}
	return out, nil
}

func (d *Distinct) Stream(ctx context.Context, exec ShardExecutor, bv BindVars, callback func(*querypb.QueryResult) error) error {
	return streamViaExecute(ctx, d, exec, bv, callback)
}

func (d *Distinct) Describe() map[string]any {
	return map[string]any{"operator": "Distinct", "inputs": []any{d.Input.Describe()}}
}
