package router

import (
	"context"
	"errors"
	"strconv"

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
	progs := make([]*evalengine.Program, len(p.Cols))
	fields := append([]*querypb.Field(nil), res.Fields...)
	for i, c := range p.Cols {
		if c.Col < 0 || c.Col >= len(fields) {
			return nil, sqlerr.New(sqlerr.ERUnknown, "projected column %d out of range of %d columns", c.Col, len(fields))
		}
		// Text compares by its column's collation, which the shards'
		// column definitions do not tell (they carry the connection's):
		// an expression the gate computes reads no text.
		prog, err := evalengine.CompileNoText(c.Expr, res.Fields, bv)
		if err != nil {
			return nil, evalError(err)
		}
		progs[i] = prog
		fields[c.Col] = prog.Type().NewField(c.Name)
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

func (p *Project) Stream(ctx context.Context, exec ShardExecutor, bv BindVars, callback func(*querypb.QueryResult) error) error {
	return streamViaExecute(ctx, p, exec, bv, callback)
}

func (p *Project) Describe() map[string]any {
	var cols []string
	for _, c := range p.Cols {
		cols = append(cols, evalengine.String(c.Expr)+" -> col("+strconv.Itoa(c.Col)+")")
	}
	return map[string]any{"operator": "Project", "columns": cols, "inputs": []any{p.Input.Describe()}}
}
