package router

import (
	"context"
	"strconv"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/router/evalengine"
	"github.com/mosaicdb/mosaic/router/sqltypes"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// Projection makes a new row from each row of its input: each output
// column is an input column passed through as it is (an
// evalengine.Column, its definition kept and renamed), or an expression
// the gate evaluates over the input row (router/evalengine, MariaDB's type
// rules; an expression that reads text is refused, 1235, as the column
// definitions do not carry the columns' collations). It gives the rows of
// a derived table that spans shards the columns the outer query reads.
//
// NoText are output columns the operators above compare without the
// shards' collation weights (ORDER BY, GROUP BY or DISTINCT keys of a
// derived table whose query cannot compute them): the statement is
// refused (1235) when one of them is text, rather than compared in a
// collation that may not be the column's.
type Projection struct {
	Input  Primitive
	Cols   []evalengine.Expr
	Names  []string
	NoText []int
}

func (p *Projection) Inputs() []Primitive { return []Primitive{p.Input} }

// projector is a Projection compiled for its input's columns.
type projector struct {
	fields []*querypb.Field
	pass   []int // input column passed through, or -1
	progs  []*evalengine.Program
}

func (p *Projection) compile(in []*querypb.Field, bv BindVars) (*projector, error) {
	pr := &projector{fields: make([]*querypb.Field, len(p.Cols)), pass: make([]int, len(p.Cols)),
		progs: make([]*evalengine.Program, len(p.Cols))}
	for i, e := range p.Cols {
		pr.pass[i] = -1
		if c, ok := e.(evalengine.Column); ok {
			if c.Index < 0 || c.Index >= len(in) {
				return nil, sqlerr.New(sqlerr.ERUnknown, "projected column %d out of range of %d columns", c.Index, len(in))
			}
			f := proto.Clone(in[c.Index]).(*querypb.Field)
			f.Name = p.Names[i]
			pr.fields[i], pr.pass[i] = f, c.Index
			continue
		}
		prog, err := evalengine.CompileNoText(e, in, bv)
		if err != nil {
			return nil, evalError(err)
		}
		pr.progs[i] = prog
		pr.fields[i] = prog.Type().NewField(p.Names[i])
	}
	for _, c := range p.NoText {
		f := pr.fields[c]
		if sqltypes.ClassOf(f.GetType(), f.GetFlags(), f.GetCharset()) == sqltypes.ClassText {
			return nil, sqlerr.NotSupported("ordering, grouping or comparing the text column %s of a derived table that spans shards, whose collation the gate does not know", p.Names[c])
		}
	}
	return pr, nil
}

func (pr *projector) row(r [][]byte) ([]byte, error) {
	cells := make([][]byte, len(pr.fields))
	for i, src := range pr.pass {
		if src >= 0 {
			cells[i] = r[src]
			continue
		}
		v, err := pr.progs[i].Cell(r)
		if err != nil {
			return nil, evalError(err)
		}
		cells[i] = v
	}
	return sqltypes.EncodeRow(cells), nil
}

func (p *Projection) Execute(ctx context.Context, exec ShardExecutor, bv BindVars) (*querypb.QueryResult, error) {
	res, err := p.Input.Execute(ctx, exec, bv)
	if err != nil {
		return nil, err
	}
	rows, err := decodeRows(res)
	if err != nil {
		return nil, err
	}
	pr, err := p.compile(res.Fields, bv)
	if err != nil {
		return nil, err
	}
	out := &querypb.QueryResult{Fields: pr.fields}
	mem := statementMemory(ctx)
	perRow := int64(rowOverhead + len(pr.fields)*cellOverhead)
	for _, r := range rows {
		row, err := pr.row(r)
		if err != nil {
			return nil, err
		}
		if err := mem.charge(perRow + int64(len(row))); err != nil {
			return nil, err
		}
		out.Rows = append(out.Rows, row)
	}
	mem.release(resultSize(res))
	return out, nil
}

// Stream projects each chunk of the input as it comes.
func (p *Projection) Stream(ctx context.Context, exec ShardExecutor, bv BindVars, callback func(*querypb.QueryResult) error) error {
	var (
		mu sync.Mutex
		nf int
		pr *projector
	)
	return p.Input.Stream(ctx, exec, bv, func(chunk *querypb.QueryResult) error {
		mu.Lock()
		defer mu.Unlock()
		out := &querypb.QueryResult{}
		if len(chunk.Fields) > 0 {
			if pr != nil {
				return sqlerr.New(sqlerr.ERUnknown, "projection input sent column definitions twice")
			}
			var err error
			if pr, err = p.compile(chunk.Fields, bv); err != nil {
				return err
			}
			nf, out.Fields = len(chunk.Fields), pr.fields
		} else if pr == nil {
			if len(chunk.Rows) > 0 {
				return sqlerr.New(sqlerr.ERUnknown, "projection input sent rows before fields")
			}
			return nil
		}
		for _, raw := range chunk.Rows {
			r, err := sqltypes.DecodeRow(raw, nf)
			if err != nil {
				return sqlerr.Wrap(sqlerr.ERUnknown, err, "decode row: %v", err)
			}
			row, err := pr.row(r)
			if err != nil {
				return err
			}
			out.Rows = append(out.Rows, row)
		}
		return callback(out)
	})
}

func (p *Projection) Describe() map[string]any {
	cols := make([]string, len(p.Cols))
	for i, e := range p.Cols {
		cols[i] = evalengine.String(e)
		if p.Names[i] != "" {
			cols[i] += " as " + strconv.Quote(p.Names[i])
		}
	}
	d := map[string]any{"operator": "Projection", "columns": cols, "inputs": []any{p.Input.Describe()}}
	if len(p.NoText) > 0 {
		d["no_text"] = p.NoText
	}
	return d
}
