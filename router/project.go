package router

import (
	"context"
	"errors"
	"strconv"
	"sync"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/router/evalengine"
	"github.com/mosaicdb/mosaic/router/sqltypes"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// ProjectCol computes one column of a Project: Expr over the input row,
// shown as Name.
type ProjectCol struct {
	Col  int
	Expr evalengine.Expr
	Name string
}

// Project replaces columns of its input's rows by expressions the gate
// evaluates over them (router/evalengine, MariaDB's type rules): an
// expression over aggregates merged from several shards. Other columns
// pass through. An expression the gate cannot evaluate exactly as
// MariaDB would fails the statement (1235) rather than answer otherwise.
type Project struct {
	Input Primitive
	Cols  []ProjectCol
}

func (p *Project) Inputs() []Primitive { return []Primitive{p.Input} }

func (p *Project) Execute(ctx context.Context, exec ShardExecutor, bv BindVars) (*querypb.QueryResult, error) {
	res, err := p.Input.Execute(ctx, exec, bv)
	if err != nil {
		return nil, err
	}
	rows, err := decodeRows(res)
	if err != nil {
		return nil, err
	}
	fields, progs, err := p.compile(res.Fields, bv)
	if err != nil {
		return nil, err
	}
	out := &querypb.QueryResult{Fields: fields}
	mem := statementMemory(ctx)
	perRow := int64(rowOverhead + len(fields)*cellOverhead)
	for _, r := range rows {
		cells := append([][]byte(nil), r...)
		for i, c := range p.Cols {
			v, err := progs[i].Cell(r)
			if err != nil {
				return nil, evalError(err)
			}
			cells[c.Col] = v
		}
		row := sqltypes.EncodeRow(cells)
		if err := mem.charge(perRow + int64(len(row))); err != nil {
			return nil, err
		}
		out.Rows = append(out.Rows, row)
	}
	mem.release(resultSize(res))
	return out, nil
}

// evalError turns an evaluation error into the client's MySQL error.
func evalError(err error) error {
	switch {
	case errors.Is(err, evalengine.ErrUnsupported):
		return sqlerr.NotSupported("%v", err)
	case errors.Is(err, evalengine.ErrOutOfRange):
		e := sqlerr.New(1690, "%v", err)
		e.State = "22003"
		return e
	}
	return sqlerr.New(sqlerr.ERUnknown, "%v", err)
}

// compile makes the output's column definitions and the programs of the
// computed columns for the input's.
func (p *Project) compile(in []*querypb.Field, bv BindVars) ([]*querypb.Field, []*evalengine.Program, error) {
	progs := make([]*evalengine.Program, len(p.Cols))
	fields := append([]*querypb.Field(nil), in...)
	for i, c := range p.Cols {
		if c.Col < 0 || c.Col >= len(fields) {
			return nil, nil, sqlerr.New(sqlerr.ERUnknown, "projected column %d out of range of %d columns", c.Col, len(fields))
		}
		// Text compares by its column's collation, which the shards'
		// column definitions do not tell (they carry the connection's):
		// an expression the gate computes reads no text.
		prog, err := evalengine.CompileNoText(c.Expr, in, bv)
		if err != nil {
			return nil, nil, evalError(err)
		}
		progs[i] = prog
		fields[c.Col] = prog.Type().NewField(c.Name)
	}
	return fields, progs, nil
}

// Stream computes the columns of each chunk of the input as it comes.
func (p *Project) Stream(ctx context.Context, exec ShardExecutor, bv BindVars, callback func(*querypb.QueryResult) error) error {
	var (
		mu     sync.Mutex
		nf     int
		fields []*querypb.Field
		progs  []*evalengine.Program
	)
	return p.Input.Stream(ctx, exec, bv, func(chunk *querypb.QueryResult) error {
		mu.Lock()
		defer mu.Unlock()
		out := copyResult(chunk)
		out.Fields, out.Rows = nil, nil
		if len(chunk.Fields) > 0 {
			if fields != nil {
				return sqlerr.New(sqlerr.ERUnknown, "projection input sent column definitions twice")
			}
			var err error
			if fields, progs, err = p.compile(chunk.Fields, bv); err != nil {
				return err
			}
			nf, out.Fields = len(chunk.Fields), fields
		} else if fields == nil {
			if len(chunk.Rows) > 0 {
				return sqlerr.New(sqlerr.ERUnknown, "projection input sent rows before fields")
			}
			return nil
		}
		for _, raw := range chunk.Rows {
			r, err := sqltypes.DecodeRow(raw, nf)
			if err != nil {
				return sqlerr.Wrap(sqlerr.ERUnknown, err, "decode shard row: %v", err)
			}
			cells := append([][]byte(nil), r...)
			for i, c := range p.Cols {
				v, err := progs[i].Cell(r)
				if err != nil {
					return evalError(err)
				}
				cells[c.Col] = v
			}
			out.Rows = append(out.Rows, sqltypes.EncodeRow(cells))
		}
		return callback(out)
	})
}

func (p *Project) Describe() map[string]any {
	var cols []string
	for _, c := range p.Cols {
		cols = append(cols, evalengine.String(c.Expr)+" -> col("+strconv.Itoa(c.Col)+")")
	}
	return map[string]any{"operator": "Project", "columns": cols, "inputs": []any{p.Input.Describe()}}
}
