package router

import (
	"context"
	"errors"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/router/sqltypes"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// upperLimitBind is the bind variable a scatter's pushed-down LIMIT reads:
// offset + count, computed by Limit at execution.
const upperLimitBind = "__upper_limit"

// Limit keeps Count rows after skipping Offset rows.
type Limit struct {
	Input  Primitive
	Count  valueSource
	Offset *valueSource
}

func (l *Limit) Inputs() []Primitive { return []Primitive{l.Input} }

func (l *Limit) bounds(bv BindVars) (count, offset uint64, err error) {
	get := func(v valueSource) (uint64, error) {
		vals, err := v.resolve(bv)
		if err != nil {
			return 0, err
		}
		if len(vals) != 1 {
			return 0, sqlerr.New(sqlerr.ERWrongArguments, "LIMIT takes one value")
		}
		i, u, unsigned, ok := sqltypes.ToInteger(vals[0])
		switch {
		case !ok || (!unsigned && i < 0):
			return 0, sqlerr.New(sqlerr.ERWrongArguments, "Incorrect arguments to LIMIT")
		case unsigned:
			return u, nil
		}
		return uint64(i), nil
	}
	if count, err = get(l.Count); err != nil {
		return 0, 0, err
	}
	if l.Offset != nil {
		if offset, err = get(*l.Offset); err != nil {
			return 0, 0, err
		}
	}
	return count, offset, nil
}

func (l *Limit) inputBinds(bv BindVars, count, offset uint64) BindVars {
	upper := count + offset
	if upper < count {
		upper = ^uint64(0)
	}
	return withBinds(bv, upperLimitBind, upper)
}

func (l *Limit) Execute(ctx context.Context, exec ShardExecutor, bv BindVars) (*querypb.QueryResult, error) {
	count, offset, err := l.bounds(bv)
	if err != nil {
		return nil, err
	}
	res, err := l.Input.Execute(ctx, exec, l.inputBinds(bv, count, offset))
	if err != nil {
		return nil, err
	}
	n := uint64(len(res.Rows))
	start, end := min(offset, n), min(offset+count, n)
	if offset+count < offset {
		end = n
	}
	out := copyResult(res)
	out.Rows = res.Rows[start:end]
	if err := statementMemory(ctx).swap(res, out); err != nil {
		return nil, err
	}
	return out, nil
}

func (l *Limit) Stream(ctx context.Context, exec ShardExecutor, bv BindVars, callback func(*querypb.QueryResult) error) error {
	count, offset, err := l.bounds(bv)
	if err != nil {
		return err
	}
	var seen uint64
	sentFields := false
	err = l.Input.Stream(ctx, exec, l.inputBinds(bv, count, offset), func(chunk *querypb.QueryResult) error {
		if seen >= offset+count && sentFields {
			return errStopStream
		}
		out := &querypb.QueryResult{Fields: chunk.Fields}
		for _, row := range chunk.Rows {
			if seen >= offset && seen < offset+count {
				out.Rows = append(out.Rows, row)
			}
			seen++
		}
		if len(out.Fields) > 0 {
			sentFields = true
		}
		if len(out.Fields) == 0 && len(out.Rows) == 0 {
			return nil
		}
		return callback(out)
	})
	if errors.Is(err, errStopStream) { // the executor may wrap it
		return nil
	}
	return err
}

func (l *Limit) Describe() map[string]any {
	d := map[string]any{"operator": "Limit", "count": l.Count.String(), "inputs": []any{l.Input.Describe()}}
	if l.Offset != nil {
		d["offset"] = l.Offset.String()
	}
	return d
}

// Truncate drops the last Hidden columns: those the gate asked the
// shards for only to sort, group or join.
type Truncate struct {
	Input  Primitive
	Hidden int
}

func (t *Truncate) Inputs() []Primitive { return []Primitive{t.Input} }

func (t *Truncate) cut(res *querypb.QueryResult) (*querypb.QueryResult, error) {
	if res.Fields == nil && len(res.Rows) == 0 {
		return res, nil
	}
	nf := len(res.Fields)
	keep := nf - t.Hidden
	if keep < 0 {
		return nil, sqlerr.New(sqlerr.ERUnknown, "result has %d columns, fewer than %d hidden ones", nf, t.Hidden)
	}
	out := &querypb.QueryResult{RowsAffected: res.RowsAffected, InsertId: res.InsertId, Warnings: res.Warnings, Info: res.Info}
	if res.Fields != nil {
		out.Fields = res.Fields[:keep]
	}
	out.Rows = make([][]byte, len(res.Rows))
	for i, raw := range res.Rows {
		cells, err := sqltypes.DecodeRow(raw, nf)
		if err != nil {
			return nil, sqlerr.Wrap(sqlerr.ERUnknown, err, "decode shard row: %v", err)
		}
		out.Rows[i] = sqltypes.EncodeRow(cells[:keep])
	}
	return out, nil
}

func (t *Truncate) Execute(ctx context.Context, exec ShardExecutor, bv BindVars) (*querypb.QueryResult, error) {
	res, err := t.Input.Execute(ctx, exec, bv)
	if err != nil {
		return nil, err
	}
	out, err := t.cut(res)
	if err != nil {
		return nil, err
	}
	if err := statementMemory(ctx).swap(res, out); err != nil {
		return nil, err
	}
	return out, nil
}

func (t *Truncate) Stream(ctx context.Context, exec ShardExecutor, bv BindVars, callback func(*querypb.QueryResult) error) error {
	nf := 0
	return t.Input.Stream(ctx, exec, bv, func(chunk *querypb.QueryResult) error {
		if len(chunk.Fields) > 0 {
			nf = len(chunk.Fields)
		}
		c := copyResult(chunk)
		if c.Fields == nil {
			c.Fields = make([]*querypb.Field, nf) // shape only
			out, err := t.cut(c)
			if err != nil {
				return err
			}
			out.Fields = nil
			return callback(out)
		}
		out, err := t.cut(c)
		if err != nil {
			return err
		}
		return callback(out)
	})
}

func (t *Truncate) Describe() map[string]any {
	return map[string]any{"operator": "Truncate", "hidden_columns": t.Hidden, "inputs": []any{t.Input.Describe()}}
}
