package router

import (
	"context"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/opcode"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/router/sqltypes"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// LookupDML runs an UPDATE or DELETE of a table that owns lookup
// vindexes: it reads the rows' primary vindex and looked-up values first
// (Select, routed as DML is, FOR UPDATE), then maintains the lookup
// tables around DML as lookup_write.go describes.
type LookupDML struct {
	Select, DML *Route
	Table       *Table
	// Lookups are the owned lookups the statement changes; Select returns
	// the primary vindex column and then theirs, in this order.
	Lookups []*ColumnVindex
	// NewValues, for an UPDATE, are the values set in Lookups[i]'s
	// column; nil for a DELETE.
	NewValues []valueSource
	// OwnersBind is the list bind variable of DML's added condition
	// `primary vindex column IN (...)`, which receives the primary vindex
	// values of the rows Select read: outside a transaction a row may
	// change between the two statements, and DML must write only rows
	// whose entries were added.
	OwnersBind  string
	noBackslash bool
}

func (d *LookupDML) Inputs() []Primitive { return []Primitive{d.Select, d.DML} }

func (d *LookupDML) Execute(ctx context.Context, exec ShardExecutor, bv BindVars) (*querypb.QueryResult, error) {
	sel, err := d.Select.Execute(ctx, exec, bv)
	if err != nil {
		return nil, err
	}
	rows, err := decodeRows(sel)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		// No row matches: nothing to write, as the statement would.
		return &querypb.QueryResult{}, nil
	}
	m := &lookupMaint{inTx: sessionInTx(bv), noBackslash: d.noBackslash}
	var owners []any
	seen := map[string]bool{}
	for _, row := range rows {
		if len(row) > 0 && row[0] != nil && !seen[string(row[0])] {
			seen[string(row[0])] = true
			owners = append(owners, string(row[0]))
		}
	}
	for i, cv := range d.Lookups {
		c := &lookupChange{cv: cv, owner: d.Table}
		var nv any
		var nvText []byte
		if d.NewValues != nil {
			vals, err := d.NewValues[i].resolve(bv)
			if err != nil {
				return nil, err
			}
			if len(vals) == 1 {
				nv = vals[0]
				nvText, _ = sqltypes.ToText(nv)
			}
		}
		for _, row := range rows {
			if len(row) != len(d.Lookups)+1 || row[0] == nil {
				continue
			}
			to := string(row[0])
			old := row[i+1]
			if d.NewValues != nil && nv != nil {
				c.add = append(c.add, lookupEntry{from: nv, to: to})
			}
			if old != nil && (d.NewValues == nil || nv == nil || string(old) != string(nvText)) {
				c.remove = append(c.remove, lookupEntry{from: string(old), to: to})
			}
		}
		m.changes = append(m.changes, c)
	}
	if err := m.before(ctx, exec); err != nil {
		return nil, err
	}
	res, err := d.DML.Execute(ctx, m.ownerExec(exec), withBinds(bv, d.OwnersBind, owners))
	if err != nil {
		m.undo(ctx, exec, m.changes)
		return nil, err
	}
	if err := m.after(ctx, exec); err != nil {
		return nil, err
	}
	return res, nil
}

func (d *LookupDML) Stream(ctx context.Context, exec ShardExecutor, bv BindVars, callback func(*querypb.QueryResult) error) error {
	return streamViaExecute(ctx, d, exec, bv, callback)
}

func (d *LookupDML) Describe() map[string]any {
	var l []any
	for _, cv := range d.Lookups {
		l = append(l, describeLookupWrite(cv))
	}
	return map[string]any{"operator": "LookupDML", "table": d.Table.Name, "lookups": l}
}

// planLookupDML wraps the route of an UPDATE or DELETE of an owner table
// in a LookupDML; route is returned as it is when the statement changes
// no lookup. g is the statement's one route group, sets the UPDATE's
// assignments.
func (p *planner) planLookupDML(stmt ast.StmtNode, g *routeGroup, route *Route, sets []*ast.Assignment, multi bool, hasPullouts bool) (Primitive, error) {
	var ti *tableInfo
	for _, t := range g.tables() {
		if len(ownedLookups(t.tbl)) > 0 {
			ti = t
			break
		}
	}
	if ti == nil {
		return route, nil
	}
	_, isDelete := stmt.(*ast.DeleteStmt)
	var lookups []*ColumnVindex
	var newValues []valueSource
	for _, cv := range ownedLookups(ti.tbl) {
		if isDelete {
			lookups = append(lookups, cv)
			continue
		}
		for _, a := range sets {
			if a.Column.Name.L != cv.Column || (a.Column.Table.L != "" && a.Column.Table.L != ti.alias) {
				continue
			}
			v, ok := valueOf(a.Expr)
			if !ok {
				return nil, sqlerr.NotSupported("an expression as the new value of lookup vindex column %s (use a literal)", cv.Column)
			}
			lookups = append(lookups, cv)
			newValues = append(newValues, v)
		}
	}
	if len(lookups) == 0 {
		return route, nil
	}
	if multi || len(g.tables()) > 1 {
		return nil, sqlerr.NotSupported("multi-table UPDATE or DELETE of table %s, which owns lookup vindex %s", ti.tbl.Name, lookups[0].Name)
	}
	if hasPullouts {
		return nil, sqlerr.NotSupported("subqueries in an UPDATE or DELETE of table %s, which owns lookup vindex %s", ti.tbl.Name, lookups[0].Name)
	}
	for _, cv := range lookups {
		if cv.Lookup.Err != nil {
			return nil, sqlerr.Wrap(sqlerr.ERUnknown, cv.Lookup.Err, "%s of %s: %s", strings.ToUpper(stmtVerb(isDelete)), ti.tbl.Name, cv.Lookup.Err.Error())
		}
	}
	var refs *ast.TableRefsClause
	var where ast.ExprNode
	var order *ast.OrderByClause
	var limit *ast.Limit
	switch s := stmt.(type) {
	case *ast.UpdateStmt:
		refs, where, order, limit = s.TableRefs, s.Where, s.Order, s.Limit
	case *ast.DeleteStmt:
		refs, where, order, limit = s.TableRefs, s.Where, s.Order, s.Limit
	}
	fields := []*ast.SelectField{{Expr: &ast.ColumnNameExpr{Name: &ast.ColumnName{Name: ast.NewCIStr(ti.tbl.PrimaryVindex().Column)}}}}
	for _, cv := range lookups {
		fields = append(fields, &ast.SelectField{Expr: &ast.ColumnNameExpr{Name: &ast.ColumnName{Name: ast.NewCIStr(cv.Column)}}})
	}
	sel := &ast.SelectStmt{Kind: ast.SelectStmtKindSelect, SelectStmtOpts: &ast.SelectStmtOpts{SQLCache: true},
		Fields: &ast.FieldList{Fields: fields}, From: refs, Where: where, OrderBy: order, Limit: limit,
		LockInfo: &ast.SelectLockInfo{LockType: ast.SelectLockForUpdate}}
	selRoute := *route
	q, err := newTemplate(sel, p.mode)
	if err != nil {
		return nil, err
	}
	selRoute.Query = q
	// DML writes only the rows Select read (LookupDML.OwnersBind).
	owners := p.newBind("owners")
	cond := &ast.PatternInExpr{Expr: &ast.ColumnNameExpr{Name: &ast.ColumnName{Name: ast.NewCIStr(ti.tbl.PrimaryVindex().Column)}},
		List: []ast.ExprNode{newBindVar(owners, bindList)}}
	var guarded ast.ExprNode = cond
	if where != nil {
		guarded = &ast.BinaryOperationExpr{Op: opcode.LogicAnd, L: &ast.ParenthesesExpr{Expr: where}, R: cond}
	}
	switch s := stmt.(type) {
	case *ast.UpdateStmt:
		s.Where = guarded
	case *ast.DeleteStmt:
		s.Where = guarded
	}
	dml := *route
	if dml.Query, err = newTemplate(stmt, p.mode); err != nil {
		return nil, err
	}
	if route.Opcode == ByLookup || route.Opcode == Scatter {
		// The rows read name their shards: each gets only its own rows'
		// values, and the lookup table is not read again.
		pv := ti.tbl.PrimaryVindex()
		dml.Opcode, dml.Lookup = IN, nil
		dml.Vindex, dml.VindexName = pv.Vindex, pv.Name
		dml.Values = []valueSource{{bind: owners, list: true}}
		dml.ListBind = owners
	}
	p.lookupWrites = true
	return &LookupDML{Select: &selRoute, DML: &dml, Table: ti.tbl, Lookups: lookups, NewValues: newValues, OwnersBind: owners,
		noBackslash: p.mode&NoBackslashEscapes != 0}, nil
}

func stmtVerb(isDelete bool) string {
	if isDelete {
		return "delete"
	}
	return "update"
}
