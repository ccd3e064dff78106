package router

import (
	"context"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// SubqueryKind says how a pulled-out subquery's result is bound.
type SubqueryKind int

const (
	// SubqueryIn binds the first column of every row as a list.
	SubqueryIn SubqueryKind = iota
	// SubqueryScalar binds the single value (NULL for no row).
	SubqueryScalar
	// SubqueryExists binds 1 when there is a row, else 0.
	SubqueryExists
)

var subqueryKindNames = []string{"In", "Scalar", "Exists"}

// PulloutSubquery runs an uncorrelated subquery first and binds its
// result for the outer statement.
type PulloutSubquery struct {
	Kind  SubqueryKind
	Bind  string
	Sub   Primitive
	Outer Primitive
}

func (p *PulloutSubquery) Inputs() []Primitive { return []Primitive{p.Sub, p.Outer} }

func (p *PulloutSubquery) bind(ctx context.Context, exec ShardExecutor, bv BindVars) (BindVars, error) {
	res, err := p.Sub.Execute(ctx, exec, bv)
	if err != nil {
		return nil, err
	}
	if p.Kind == SubqueryExists {
		v := int64(0)
		if len(res.Rows) > 0 {
			v = 1
		}
		return withBinds(bv, p.Bind, v), nil
	}
	if len(res.Fields) != 1 {
		return nil, sqlerr.New(1241, "Operand should contain 1 column(s)")
	}
	rows, err := decodeRows(res)
	if err != nil {
		return nil, err
	}
	if p.Kind == SubqueryScalar {
		switch len(rows) {
		case 0:
			return withBinds(bv, p.Bind, nil), nil
		case 1:
			return withBinds(bv, p.Bind, cellValue(rows[0][0], res.Fields[0])), nil
		}
		return nil, sqlerr.New(1242, "Subquery returns more than 1 row")
	}
	list := make([]any, len(rows))
	for i, r := range rows {
		list[i] = cellValue(r[0], res.Fields[0])
	}
	return withBinds(bv, p.Bind, list), nil
}

func (p *PulloutSubquery) Execute(ctx context.Context, exec ShardExecutor, bv BindVars) (*querypb.QueryResult, error) {
	bv2, err := p.bind(ctx, exec, bv)
	if err != nil {
		return nil, err
	}
	return p.Outer.Execute(ctx, exec, bv2)
}

func (p *PulloutSubquery) Stream(ctx context.Context, exec ShardExecutor, bv BindVars, callback func(*querypb.QueryResult) error) error {
	bv2, err := p.bind(ctx, exec, bv)
	if err != nil {
		return err
	}
	return p.Outer.Stream(ctx, exec, bv2, callback)
}

func (p *PulloutSubquery) Describe() map[string]any {
	return map[string]any{
		"operator": "PulloutSubquery", "variant": subqueryKindNames[p.Kind], "bind": p.Bind,
		"inputs": []any{p.Sub.Describe(), p.Outer.Describe()},
	}
}
