package router

import (
	"context"
	"strconv"
	"sync"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/router/evalengine"
	"github.com/mosaicdb/mosaic/router/sqltypes"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// EvalFilter keeps the rows of its input for which Cond is true, as the
// gate evaluates it (router/evalengine, MariaDB's type rules) over the
// last Tail columns of each row: a WHERE condition on the nullable side of
// a LEFT JOIN across shards, which holds only after the join. A condition
// the gate cannot evaluate exactly as MariaDB would fails the statement
// (1235) rather than answer otherwise.
type EvalFilter struct {
	Input Primitive
	Cond  evalengine.Expr
	Tail  int
}

func (f *EvalFilter) Inputs() []Primitive { return []Primitive{f.Input} }

// compile makes the condition's program for the input's columns.
func (f *EvalFilter) compile(fields []*querypb.Field, bv BindVars) (*evalengine.Program, error) {
	if f.Tail > len(fields) {
		return nil, sqlerr.New(sqlerr.ERUnknown, "filter reads %d columns of %d", f.Tail, len(fields))
	}
	prog, err := evalengine.CompileNoText(f.Cond, fields[len(fields)-f.Tail:], bv)
	if err != nil {
		return nil, evalError(err)
	}
	return prog, nil
}

func (f *EvalFilter) keep(prog *evalengine.Program, row [][]byte) (bool, error) {
	ok, err := prog.Truth(row[len(row)-f.Tail:])
	if err != nil {
		return false, evalError(err)
	}
	return ok, nil
}

func (f *EvalFilter) Execute(ctx context.Context, exec ShardExecutor, bv BindVars) (*querypb.QueryResult, error) {
	res, err := f.Input.Execute(ctx, exec, bv)
	if err != nil {
		return nil, err
	}
	rows, err := decodeRows(res)
	if err != nil {
		return nil, err
	}
	prog, err := f.compile(res.Fields, bv)
	if err != nil {
		return nil, err
	}
	out := copyResult(res)
	out.Rows = nil
	for i, r := range rows {
		ok, err := f.keep(prog, r)
		if err != nil {
			return nil, err
		}
		if ok {
			out.Rows = append(out.Rows, res.Rows[i])
		}
	}
	if err := statementMemory(ctx).swap(res, out); err != nil {
		return nil, err
	}
	return out, nil
}

// Stream passes on the rows of each chunk that satisfy the condition.
func (f *EvalFilter) Stream(ctx context.Context, exec ShardExecutor, bv BindVars, callback func(*querypb.QueryResult) error) error {
	var (
		mu   sync.Mutex
		nf   int
		prog *evalengine.Program
	)
	return f.Input.Stream(ctx, exec, bv, func(chunk *querypb.QueryResult) error {
		mu.Lock()
		defer mu.Unlock()
		if len(chunk.Fields) > 0 {
			var err error
			if prog, err = f.compile(chunk.Fields, bv); err != nil {
				return err
			}
			nf = len(chunk.Fields)
		} else if prog == nil {
			if len(chunk.Rows) > 0 {
				return sqlerr.New(sqlerr.ERUnknown, "filter input sent rows before fields")
			}
			return nil
		}
		out := copyResult(chunk)
		out.Rows = nil
		for _, raw := range chunk.Rows {
			r, err := sqltypes.DecodeRow(raw, nf)
			if err != nil {
				return sqlerr.Wrap(sqlerr.ERUnknown, err, "decode row: %v", err)
			}
			ok, err := f.keep(prog, r)
			if err != nil {
				return err
			}
			if ok {
				out.Rows = append(out.Rows, raw)
			}
		}
		return callback(out)
	})
}

func (f *EvalFilter) Describe() map[string]any {
	return map[string]any{"operator": "Filter", "condition": evalengine.String(f.Cond) + " over the last " + strconv.Itoa(f.Tail) + " columns",
		"inputs": []any{f.Input.Describe()}}
}
