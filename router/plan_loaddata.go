package router

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/router/loaddata"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// ignoreRows matches LOAD DATA's IGNORE n ROWS, which the parser does not
// take; IGNORE n LINES means the same.
var ignoreRows = regexp.MustCompile(`(?i)\bIGNORE\s+(\d+)\s+ROWS\b`)

// loadDataIgnoreRows rewrites IGNORE n ROWS as IGNORE n LINES in a LOAD
// DATA statement; other statements are returned as they are.
func loadDataIgnoreRows(sql string) string {
	s := strings.TrimLeft(sql, " \t\r\n")
	if len(s) < 4 || !strings.EqualFold(s[:4], "load") {
		return sql
	}
	return ignoreRows.ReplaceAllString(sql, "IGNORE $1 LINES")
}

// planLoadData plans LOAD DATA LOCAL INFILE. The proxy carries the plan
// out, since only it has the client's file (see LoadData).
func (p *planner) planLoadData(ld *ast.LoadDataStmt, sql string) (Primitive, error) {
	if ld.FileLocRef != ast.FileLocClient {
		return nil, sqlerr.NotSupported("LOAD DATA INFILE without LOCAL: the file would have to be on a tablet's host; use LOAD DATA LOCAL INFILE, which reads the client's file")
	}
	if ld.Format != nil && !strings.EqualFold(*ld.Format, "delimited data") || len(ld.Options) > 0 ||
		ld.FieldsInfo != nil && ld.FieldsInfo.DefinedNullBy != nil {
		return nil, sqlerr.NotSupported("TiDB's LOAD DATA extensions (FORMAT, DEFINED NULL BY, WITH)")
	}
	ti, err := p.resolveTable(ld.Table, "")
	if err != nil {
		return nil, err
	}
	if ti.system {
		return nil, sqlerr.NotSupported("LOAD DATA into system tables")
	}
	if owned := ownedLookups(ti.tbl); len(owned) > 0 {
		return nil, sqlerr.NotSupported("LOAD DATA into table %s, which owns lookup vindex %s (use INSERT)", ti.tbl.Name, owned[0].Name)
	}
	ks := ti.ks
	out := &LoadData{Keyspace: ks, Path: ld.Path}
	switch {
	case !ks.Sharded:
		out.Shard = ks.Shards[0]
	case ti.isReference():
		return nil, sqlerr.NotSupported("LOAD DATA into reference table %s of sharded keyspace %s", ti.tbl.Name, ks.Name)
	case ti.tbl.Pinned != nil:
		shard, ok := ks.ShardForKeyspaceID(ti.tbl.Pinned)
		if !ok {
			return nil, sqlerr.New(sqlerr.ERUnknown, "no shard of keyspace %s holds pinned table %s", ks.Name, ti.tbl.Name)
		}
		out.Shard = shard
	}
	if out.Shard != "" {
		// The file goes to one shard as it is; the statement changes only
		// when planning rewrote the table name.
		out.Query = sql
		if p.rewrote {
			if out.Query, err = restoreSQLIn(ld, p.mode); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return p.planShardedLoadData(ld, ti, out)
}

// planShardedLoadData fills out for a table split by its primary vindex:
// the gate reads the file itself, and each shard gets its rows in the
// canonical format.
func (p *planner) planShardedLoadData(ld *ast.LoadDataStmt, ti *tableInfo, out *LoadData) (*LoadData, error) {
	tbl := ti.tbl
	cv := tbl.PrimaryVindex()
	if cv == nil {
		return nil, sqlerr.NotSupported("LOAD DATA into sharded table %s without a primary vindex", tbl.Name)
	}
	if ld.Charset != nil && !loaddata.ASCIISafeCharset(*ld.Charset) {
		return nil, sqlerr.NotSupported("LOAD DATA CHARACTER SET %s on sharded keyspace %s (a multi-byte character may hold ASCII bytes; use utf8mb4)", *ld.Charset, out.Keyspace.Name)
	}
	f := loaddata.DefaultFormat()
	if fi := ld.FieldsInfo; fi != nil {
		if fi.Terminated != nil {
			f.FieldTerm = *fi.Terminated
		}
		if fi.Enclosed != nil {
			f.HasEnclosed = *fi.Enclosed != ""
			if f.HasEnclosed {
				f.Enclosed = (*fi.Enclosed)[0]
			}
		}
		if fi.Escaped != nil {
			f.HasEscape = *fi.Escaped != ""
			if f.HasEscape {
				f.Escape = (*fi.Escaped)[0]
			}
		}
	}
	if li := ld.LinesInfo; li != nil {
		if li.Starting != nil {
			f.LineStart = *li.Starting
		}
		if li.Terminated != nil {
			f.LineTerm = *li.Terminated
		}
	}
	if err := f.Validate(); err != nil {
		return nil, sqlerr.NotSupported("LOAD DATA with %v on sharded keyspace %s", err, out.Keyspace.Name)
	}
	out.Format = f
	if ld.IgnoreLines != nil {
		out.IgnoreLines = *ld.IgnoreLines
	}
	// Where each row holds the vindex column.
	out.VindexField = -1
	list := ld.ColumnsAndUserVars
	if len(list) == 0 {
		for _, c := range ld.Columns {
			list = append(list, &ast.ColumnNameOrUserVar{ColumnName: c})
		}
	}
	if len(list) == 0 {
		cols, err := p.loadColumns(tbl)
		if err != nil {
			return nil, err
		}
		for i, c := range cols {
			if strings.EqualFold(c, cv.Column) {
				out.VindexField = i
			}
		}
	} else {
		for i, c := range list {
			if c.ColumnName != nil && c.ColumnName.Name.L == cv.Column {
				out.VindexField = i
			}
		}
	}
	for _, a := range ld.ColumnAssignments {
		if a.Column != nil && a.Column.Name.L == cv.Column {
			return nil, sqlerr.NotSupported("LOAD DATA that sets sharding column %s of %s with SET (the gate routes each row by the value in the file)", cv.Column, tbl.Name)
		}
	}
	if out.VindexField < 0 {
		return nil, sqlerr.NotSupported("LOAD DATA into sharded table %s whose column list does not name sharding column %s (a user variable is not routable)", tbl.Name, cv.Column)
	}
	out.Table, out.Vindex = tbl, cv
	// Each shard reads the canonical format; the gate already skipped the
	// ignored lines.
	fields := &ast.FieldsClause{}
	tab, none, backslash := "\t", "", `\`
	fields.Terminated, fields.Enclosed, fields.Escaped = &tab, &none, &backslash
	nl := "\n"
	ld.FieldsInfo, ld.LinesInfo, ld.IgnoreLines = fields, &ast.LinesClause{Terminated: &nl}, nil
	q, err := restoreSQLIn(ld, p.mode)
	if err != nil {
		return nil, err
	}
	out.Query = q
	return out, nil
}

// loadColumns returns the columns, in order, a LOAD DATA without a
// column list fills: the VSchema's when they are authoritative, else those
// the ColumnSource learned from the shards (a *ColumnsNeededError when it
// does not know them yet).
func (p *planner) loadColumns(t *Table) ([]string, error) {
	if t.ColumnListAuthoritative && len(t.Columns) > 0 {
		return t.Columns, nil
	}
	unknown := sqlerr.NotSupported("LOAD DATA without a column list into sharded table %s: the gate does not know its columns (name the columns, or list them in the VSchema with \"column_list_authoritative\": true)", t.Name)
	if p.cols == nil {
		return nil, unknown
	}
	cols, ok := p.cols.Columns(t.Keyspace.Name, t.Name)
	if !ok || len(cols) == 0 {
		return nil, columnsNeeded(t, unknown)
	}
	p.learned = true
	return cols, nil
}

// LoadData is the plan of LOAD DATA LOCAL INFILE. The proxy carries it
// out, since only it can ask the client for the file: its Execute and
// Stream fail. With Shard set, the file goes to that shard unchanged with
// Query (an unsharded keyspace, a pinned table). Otherwise the gate reads
// the file in Format, skips IgnoreLines lines, finds each row's shard with
// ShardFor, and sends each shard its rows in loaddata's canonical format
// (loaddata.AppendRow) with Query.
type LoadData struct {
	noInputs
	Keyspace *Keyspace
	// Path is the file name the client asked for, sent back to it.
	Path  string
	Shard string
	Query string
	// The rest is set for a sharded table only.
	Table       *Table
	Vindex      *ColumnVindex
	Format      loaddata.Format
	IgnoreLines uint64
	// VindexField is the index in each row of the primary vindex column.
	VindexField int
}

// ShardFor returns the shard of a row of the file; line is its number
// (from 1) for errors.
func (l *LoadData) ShardFor(fields []loaddata.Field, line uint64) (string, error) {
	if l.VindexField >= len(fields) {
		return "", sqlerr.New(sqlerr.ERWrongArguments, "Row %d doesn't contain data for sharding column %s", line, l.Vindex.Column)
	}
	f := fields[l.VindexField]
	if f.Null {
		return "", sqlerr.New(sqlerr.ERWrongArguments, "LOAD DATA into %s: the value of vindex column %s cannot be NULL (row %d)", l.Table.Name, l.Vindex.Column, line)
	}
	ksid, ok := l.Vindex.Vindex.Map(f.Value)
	if !ok {
		return "", sqlerr.New(sqlerr.ERWrongArguments, "LOAD DATA into %s: value %q of vindex column %s in row %d cannot be mapped by vindex %s", l.Table.Name, f.Value, l.Vindex.Column, line, l.Vindex.Name)
	}
	shard, ok := l.Keyspace.ShardForKeyspaceID(ksid)
	if !ok {
		return "", sqlerr.New(sqlerr.ERUnknown, "no shard of keyspace %s holds keyspace id %x", l.Keyspace.Name, ksid)
	}
	return shard, nil
}

// errLoadDataNeedsFile is what a LoadData plan answers when run as an
// ordinary primitive.
var errLoadDataNeedsFile = sqlerr.NotSupported("LOAD DATA LOCAL INFILE outside a client connection that sends the file")

func (l *LoadData) Execute(context.Context, ShardExecutor, BindVars) (*querypb.QueryResult, error) {
	return nil, errLoadDataNeedsFile
}

func (l *LoadData) Stream(context.Context, ShardExecutor, BindVars, func(*querypb.QueryResult) error) error {
	return errLoadDataNeedsFile
}

func (l *LoadData) Describe() map[string]any {
	d := map[string]any{"operator": "LoadData", "keyspace": l.Keyspace.Name, "query": l.Query}
	if l.Shard != "" {
		d["shard"] = l.Shard
	} else {
		d["table"] = l.Table.Name
		d["vindex"] = fmt.Sprintf("%s(%s)", l.Vindex.Name, l.Vindex.Column)
		if l.IgnoreLines > 0 {
			d["ignore_lines"] = l.IgnoreLines
		}
	}
	return d
}
