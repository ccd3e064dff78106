package router

import (
	"strings"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"

	"github.com/mosaicdb/mosaic/router/sqltypes"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// information_schema.SCHEMATA lists a server's databases. Through the gate
// it lists the keyspaces, as SHOW DATABASES does: a tablet's mysqld holds
// only its own keyspace's database (and mysql, sys, _mosaic...), so the
// table as a tablet has it would hide every other keyspace from the tools
// that list databases with it (MariaDB Connector/J's getCatalogs, BI and
// GUI tools).
//
// The gate replaces the table by a derived table of the same name and
// columns: information_schema's own row, then one row per keyspace made
// from the row of the answering tablet's database with the keyspace's
// name. The shard then evaluates whatever the statement does with it
// (columns, WHERE, ORDER BY, joins). The columns are MariaDB's; MySQL 8's
// SCHEMATA has DEFAULT_ENCRYPTION where MariaDB has SCHEMA_COMMENT.

// schemataColumns are the columns of MariaDB's information_schema.SCHEMATA
// after SCHEMA_NAME.
const schemataColumns = "DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME, SQL_PATH, SCHEMA_COMMENT"

// schemataRewriter replaces information_schema.SCHEMATA in FROM clauses.
type schemataRewriter struct {
	p   *planner
	err error
}

func (w *schemataRewriter) Enter(n ast.Node) (ast.Node, bool) {
	ts, ok := n.(*ast.TableSource)
	if !ok || w.err != nil {
		return n, w.err != nil
	}
	tn, ok := ts.Source.(*ast.TableName)
	if !ok {
		return n, false
	}
	schema := tn.Schema.L
	if schema == "" {
		schema = w.p.sysSession
	}
	if schema != "information_schema" || tn.Name.L != "schemata" {
		return n, false
	}
	sub, err := w.p.schemataTable()
	if err != nil {
		w.err = err
		return n, true
	}
	if ts.AsName.O == "" {
		ts.AsName = tn.Name
	}
	ts.Source = sub
	w.p.rewrote = true
	// The derived table reads the real SCHEMATA: not again.
	return n, true
}

func (w *schemataRewriter) Leave(n ast.Node) (ast.Node, bool) { return n, true }

// schemataTable is the derived table standing for SCHEMATA.
func (p *planner) schemataTable() (ast.ResultSetNode, error) {
	var b strings.Builder
	b.WriteString("SELECT CATALOG_NAME, SCHEMA_NAME, " + schemataColumns +
		" FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'information_schema'")
	p.listsKeyspaces = true
	for _, name := range p.vs.KeyspaceNames() {
		if ks := p.vs.Keyspaces[name]; ks.Error != nil || len(ks.Shards) == 0 {
			continue
		}
		if p.visible != nil && !p.visible(name) {
			continue
		}
		b.WriteString(" UNION ALL SELECT CATALOG_NAME, ")
		b.Write(sqltypes.AppendQuoted(nil, name))
		b.WriteString(", " + schemataColumns + " FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = DATABASE()")
	}
	stmt, err := parser.New().ParseOneStmt(b.String(), "", "")
	if err != nil {
		return nil, sqlerr.Wrap(sqlerr.ERUnknown, err, "information_schema.SCHEMATA: %v", err)
	}
	rs, ok := stmt.(ast.ResultSetNode)
	if !ok {
		return nil, sqlerr.New(sqlerr.ERUnknown, "information_schema.SCHEMATA: not a query")
	}
	return rs, nil
}
