package router

import (
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	driver "github.com/pingcap/tidb/pkg/parser/test_driver"

	"github.com/mosaicdb/mosaic/sqlerr"
)

// planInsert plans INSERT and REPLACE.
func (p *planner) planInsert(ins *ast.InsertStmt) (Primitive, error) {
	entries, err := p.flattenFrom(ins.Table.TableRefs, nil)
	if err != nil {
		return nil, err
	}
	if len(entries) != 1 || entries[0].ti == nil {
		return nil, sqlerr.NotSupported("INSERT into this table expression")
	}
	ti := entries[0].ti
	if ti.system {
		return nil, sqlerr.NotSupported("INSERT into system tables")
	}
	ks := ti.ks
	if ins.Select != nil {
		if !ks.Sharded {
			for _, tn := range allTableNames(ins.Select) {
				t, err := p.resolveTable(tn, "")
				if err != nil {
					return nil, err
				}
				if t.ks != ks && !t.system {
					return nil, sqlerr.NotSupported("INSERT ... SELECT from another keyspace")
				}
			}
			t, err := newTemplate(ins, p.mode)
			if err != nil {
				return nil, err
			}
			return &Route{Opcode: Unsharded, Keyspace: ks, Query: t}, nil
		}
		return nil, sqlerr.NotSupported("INSERT ... SELECT into a sharded keyspace")
	}
	// INSERT ... SET a = 1 arrives as columns and one row; write it back
	// as VALUES.
	ins.Setlist = false
	if hasSubquery(ins) {
		if ks.Sharded {
			return nil, sqlerr.NotSupported("subqueries in an INSERT into a sharded table")
		}
	}
	out := &Insert{Keyspace: ks, Table: ti.tbl, seqs: p.seqs}
	switch {
	case !ks.Sharded:
		out.Opcode = Unsharded
	case ti.isReference():
		out.Opcode = AllShards
	case ti.tbl.Pinned != nil:
		shard, ok := ks.ShardForKeyspaceID(ti.tbl.Pinned)
		if !ok {
			return nil, sqlerr.New(sqlerr.ERUnknown, "no shard of keyspace %s holds pinned table %s", ks.Name, ti.tbl.Name)
		}
		t, err := newTemplate(ins, p.mode)
		if err != nil {
			return nil, err
		}
		return &Route{Opcode: Pinned, Keyspace: ks, PinnedShard: shard, PinnedID: ti.tbl.Pinned, Query: t}, nil
	default:
		out.Opcode = EqualUnique
	}
	colIdx := func(name string) int {
		for i, c := range ins.Columns {
			if c.Name.L == name {
				return i
			}
		}
		return -1
	}
	if len(ins.Columns) == 0 && (ks.Sharded && !ti.isReference() || ti.tbl != nil && ti.tbl.AutoIncrement != nil) {
		// The gate must find the vindex (and sequence) column in each row:
		// the VSchema's authoritative column list says where it is, or
		// else the columns learned from the shards' schema. The shards
		// get the columns named.
		cols, err := p.insertColumns(ti.tbl, ins.Lists)
		if err != nil {
			return nil, err
		}
		for _, c := range cols {
			ins.Columns = append(ins.Columns, &ast.ColumnName{Name: ast.NewCIStr(c)})
		}
	}
	for i, row := range ins.Lists {
		if len(row) != len(ins.Columns) && len(ins.Columns) > 0 {
			return nil, errValueCount(i)
		}
	}
	// Auto-increment from a sequence.
	if ti.tbl != nil && ti.tbl.AutoIncrement != nil {
		ai := ti.tbl.AutoIncrement
		if ai.Sequence == nil {
			return nil, sqlerr.New(sqlerr.ERUnknown, "INSERT into %s: %v", ti.tbl.Name, ai.Err)
		}
		ci := colIdx(ai.Column)
		if ci < 0 {
			ins.Columns = append(ins.Columns, &ast.ColumnName{Name: ast.NewCIStr(ai.Column)})
			ci = len(ins.Columns) - 1
		}
		out.Sequence = ai.Sequence
		for r, row := range ins.Lists {
			name := "__seq" + itoa(r)
			var src *valueSource
			if ci < len(row) {
				v, ok := valueOf(row[ci])
				if !ok {
					if _, isDefault := row[ci].(*ast.DefaultExpr); !isDefault {
						return nil, sqlerr.NotSupported("an expression as the value of auto-increment column %s", ai.Column)
					}
				} else {
					src = &v
				}
				row[ci] = newBindVar(name, bindScalar)
			} else {
				ins.Lists[r] = append(row, newBindVar(name, bindScalar))
			}
			out.SeqBinds = append(out.SeqBinds, name)
			out.SeqValues = append(out.SeqValues, src)
		}
	}
	if out.Opcode == EqualUnique {
		cv := ti.tbl.PrimaryVindex()
		ci := colIdx(cv.Column)
		if ci < 0 {
			return nil, sqlerr.New(sqlerr.ERWrongArguments, "INSERT into sharded table %s must give vindex column %s (or have it filled by a sequence)", ti.tbl.Name, cv.Column)
		}
		for _, row := range ins.Lists {
			v, ok := valueOf(row[ci])
			if !ok {
				return nil, sqlerr.NotSupported("an expression as the value of vindex column %s (use a literal)", cv.Column)
			}
			out.VindexValues = append(out.VindexValues, v)
		}
		for _, a := range ins.OnDuplicate {
			// col = VALUES(col) keeps the row on its shard: the new value
			// is the one that routed the row there (ORMs send it).
			if a.Column.Name.L == cv.Column && !isValuesOf(a.Expr, cv.Column) {
				return nil, sqlerr.NotSupported("changing vindex column %s of table %s in ON DUPLICATE KEY UPDATE", cv.Column, ti.tbl.Name)
			}
		}
	}
	if out.Opcode == EqualUnique {
		lookups, err := p.insertLookups(ins, ti.tbl, colIdx)
		if err != nil {
			return nil, err
		}
		out.Lookups = lookups
	}
	for _, row := range ins.Lists {
		tw := &templateWriter{}
		var disp strings.Builder
		for i, e := range row {
			if i > 0 {
				tw.WriteString(", ")
				disp.WriteString(", ")
			}
			t, err := newTemplate(e, p.mode)
			if err != nil {
				return nil, err
			}
			for _, seg := range t.segs {
				if seg.isBV {
					tw.bind(seg.bind, seg.kind)
				} else {
					tw.WriteString(seg.text)
				}
			}
			disp.WriteString(t.display)
		}
		tw.flush()
		out.Rows = append(out.Rows, templateOf(tw.segs, disp.String(), p.mode&NoBackslashEscapes != 0))
	}
	ins.Lists = [][]ast.ExprNode{{newBindVar(rowsBind, bindScalar)}}
	if out.Query, err = newTemplate(ins, p.mode); err != nil {
		return nil, err
	}
	return out, nil
}

// insertLookups returns the lookup vindexes an INSERT into t maintains,
// with each row's value of their column.
func (p *planner) insertLookups(ins *ast.InsertStmt, t *Table, colIdx func(string) int) ([]insertLookup, error) {
	owned := ownedLookups(t)
	if len(owned) == 0 {
		return nil, nil
	}
	switch {
	case ins.IsReplace:
		return nil, sqlerr.NotSupported("REPLACE into table %s, which owns lookup vindex %s", t.Name, owned[0].Name)
	case ins.IgnoreErr:
		return nil, sqlerr.NotSupported("INSERT IGNORE into table %s, which owns lookup vindex %s", t.Name, owned[0].Name)
	case len(ins.OnDuplicate) > 0:
		return nil, sqlerr.NotSupported("INSERT ... ON DUPLICATE KEY UPDATE into table %s, which owns lookup vindex %s", t.Name, owned[0].Name)
	}
	var out []insertLookup
	for _, cv := range owned {
		if cv.Lookup.Err != nil {
			return nil, sqlerr.Wrap(sqlerr.ERUnknown, cv.Lookup.Err, "INSERT into %s: %s", t.Name, cv.Lookup.Err.Error())
		}
		il := insertLookup{cv: cv}
		ci := colIdx(cv.Column)
		for _, row := range ins.Lists {
			if ci < 0 || ci >= len(row) {
				il.values = append(il.values, nil)
				continue
			}
			v, ok := valueOf(row[ci])
			if !ok {
				return nil, sqlerr.NotSupported("an expression as the value of lookup vindex column %s (use a literal)", cv.Column)
			}
			il.values = append(il.values, &v)
		}
		out = append(out, il)
	}
	p.lookupWrites = true
	return out, nil
}

// insertColumns returns the columns an INSERT without a column list into
// t fills: the VSchema's when they are authoritative, else those the
// ColumnSource learned. Every row must have one value per column (1136).
// Learned columns that are unknown, or whose count does not match a row,
// come back as a *ColumnsNeededError for the caller to learn afresh.
func (p *planner) insertColumns(t *Table, rows [][]ast.ExprNode) ([]string, error) {
	if t.ColumnListAuthoritative && len(t.Columns) > 0 {
		if i := wrongLength(rows, len(t.Columns)); i >= 0 {
			return nil, errValueCount(i)
		}
		return t.Columns, nil
	}
	unknown := sqlerr.NotSupported("INSERT without a column list into %s: the gate does not know its columns (name the columns, or list them in the VSchema with \"column_list_authoritative\": true)", t.Name)
	if p.cols == nil {
		return nil, unknown
	}
	cols, ok := p.cols.Columns(t.Keyspace.Name, t.Name)
	if !ok || len(cols) == 0 {
		return nil, columnsNeeded(t, unknown)
	}
	if i := wrongLength(rows, len(cols)); i >= 0 {
		return nil, columnsNeeded(t, errValueCount(i))
	}
	p.learned = true
	return cols, nil
}

// wrongLength returns the index of the first row without n values, -1
// when every row has n.
func wrongLength(rows [][]ast.ExprNode, n int) int {
	for i, row := range rows {
		if len(row) != n {
			return i
		}
	}
	return -1
}

// errValueCount is mysqld's error for row i (from 0) of the wrong length.
func errValueCount(i int) error {
	return sqlerr.New(sqlerr.ERWrongValueCountOnRow, "Column count doesn't match value count at row %d", i+1)
}

// planUpdateDelete plans UPDATE and DELETE: routed by their WHERE like a
// SELECT; several shards are allowed.
func (p *planner) planUpdateDelete(stmt ast.StmtNode) (Primitive, error) {
	var refs *ast.TableRefsClause
	var where ast.ExprNode
	var order *ast.OrderByClause
	var limit *ast.Limit
	var sets []*ast.Assignment
	multi := false
	switch s := stmt.(type) {
	case *ast.UpdateStmt:
		refs, where, order, limit, sets, multi = s.TableRefs, s.Where, s.Order, s.Limit, s.List, s.MultipleTable
	case *ast.DeleteStmt:
		refs, where, order, limit, multi = s.TableRefs, s.Where, s.Order, s.Limit, s.IsMultiTable
		if s.Tables != nil {
			// DELETE t1 FROM ...: names or aliases of tables in FROM.
			for _, tn := range s.Tables.Tables {
				if _, isKs := p.vs.Keyspaces[tn.Schema.O]; isKs {
					tn.Schema = ast.CIStr{}
					p.rewrote = true
				}
			}
		}
	}
	entries, err := p.flattenFrom(refs.TableRefs, nil)
	if err != nil {
		return nil, err
	}
	g, err := p.groupTables(entries, where)
	if err != nil {
		return nil, err
	}
	if g == nil {
		return nil, sqlerr.NotSupported("multi-table UPDATE or DELETE across shards")
	}
	for _, t := range g.tables() {
		if t.system {
			return nil, sqlerr.NotSupported("changing system tables")
		}
	}
	// Changing a vindex column would move the row to another shard.
	for _, a := range sets {
		for _, t := range g.tables() {
			if !t.sharded() || (a.Column.Table.L != "" && a.Column.Table.L != t.alias) {
				continue
			}
			for _, cv := range t.tbl.ColumnVindexes {
				if cv.Lookup != nil {
					// A lookup column moves its entry instead (LookupDML);
					// one the table does not own is not maintained here.
					continue
				}
				if cv.Column == a.Column.Name.L {
					return nil, sqlerr.NotSupported("changing vindex column %s of table %s (delete and re-insert the row)", cv.Column, t.tbl.Name)
				}
			}
		}
	}
	pullouts, err := p.handleSubqueries(stmt, g)
	if err != nil {
		return nil, err
	}
	if s, ok := stmt.(*ast.UpdateStmt); ok {
		where = s.Where
	} else {
		where = stmt.(*ast.DeleteStmt).Where
	}
	route, err := p.routeForGroup(g, where)
	if err != nil {
		return nil, err
	}
	if g.kind == "reference" {
		if multi {
			return nil, sqlerr.NotSupported("multi-table writes to reference tables")
		}
		route.Opcode = AllShards
	}
	if !singleShard(route) && route.Opcode != AllShards && (order != nil || limit != nil) {
		return nil, sqlerr.NotSupported("UPDATE or DELETE with ORDER BY or LIMIT across shards")
	}
	if route.Query, err = newTemplate(stmt, p.mode); err != nil {
		return nil, err
	}
	prim, err := p.planLookupDML(stmt, g, route, sets, multi, len(pullouts) > 0)
	if err != nil {
		return nil, err
	}
	return wrapPullouts(prim, pullouts), nil
}

var _ = driver.ValueExpr{}

// isValuesOf says whether e is VALUES(col).
func isValuesOf(e ast.ExprNode, col string) bool {
	v, ok := e.(*ast.ValuesExpr)
	return ok && v.Column != nil && v.Column.Name.Name.L == col
}
