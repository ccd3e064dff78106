package router

import (
	"fmt"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/opcode"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// planner plans one statement. It is used once and thrown away.
type planner struct {
	vs *VSchema
	// mode is the session's parse mode: the SQL for shards is quoted in it.
	mode    ParseMode
	session string // the session's keyspace, "" when none
	// tabletType is the session's tablet type as far as routing rules
	// tell types apart (VSchema.planType).
	tabletType topodatapb.TabletType
	seqs       *sequences
	// nsq counts pulled-out subqueries and other generated bind names.
	nsq int
	// resolved remembers resolved tables: resolving rewrites the name.
	resolved map[*ast.TableName]*tableInfo
	// rewrote is set when planning changed the statement beyond its
	// literals (a keyspace qualifier dropped, a table renamed by a
	// routing rule): its text cannot be sent as the client wrote it.
	rewrote bool
	// cols gives learned columns (nil for none); learned is set once the
	// plan uses them.
	cols    ColumnSource
	learned bool
	// lock is set for a statement of user-level lock functions only
	// (checkConnState): it plans as a Lock route.
	lock bool
	// stmt and bv are the statement being planned and its literals.
	stmt ast.StmtNode
	bv   BindVars
	// sysKs is the keyspace answering system tables (systemKeyspace);
	// byLiteral is set when a literal's value chose it.
	sysKs     *Keyspace
	byLiteral bool
	// touched are the keyspaces the statement names or runs on (Plan.Keyspaces).
	touched map[string]bool
	// visible, when set, limits the keyspaces information_schema.SCHEMATA
	// lists (Router.PlanVisible).
	visible func(keyspace string) bool
	// listsKeyspaces is set when the plan lists keyspaces (SCHEMATA).
	listsKeyspaces bool
	// lookupWrites is set when the plan maintains lookup tables: it
	// needs InTransactionBind.
	lookupWrites bool
	// sysSession is "information_schema" in a session that selected it
	// (session is then ""), "" otherwise.
	sysSession string
}

func (p *planner) newBind(prefix string) string {
	p.nsq++
	return fmt.Sprintf("__%s%d", prefix, p.nsq)
}

// systemSchemas are answered by any shard.
var systemSchemas = map[string]bool{"information_schema": true, "mysql": true, "performance_schema": true, "sys": true}

// IsInformationSchema reports whether a session's database is
// information_schema, which a session may select (`USE
// information_schema`) though it is no keyspace.
func IsInformationSchema(name string) bool {
	return strings.EqualFold(name, "information_schema")
}

// tableInfo is a table of a statement, resolved against the VSchema.
type tableInfo struct {
	// alias is the lower-case name that qualifies the table's columns.
	alias string
	ks    *Keyspace
	// tbl is nil for system tables and for tables of an unsharded keyspace
	// that its VSchema does not list.
	tbl    *Table
	system bool
	node   *ast.TableName
}

func (t *tableInfo) isReference() bool { return t.tbl != nil && t.tbl.Type == TableReference }

func (t *tableInfo) sharded() bool {
	return !t.system && t.ks.Sharded && !t.isReference()
}

// keyspaceByName returns a usable keyspace.
func (p *planner) keyspaceByName(name string) (*Keyspace, error) {
	ks, ok := p.vs.Keyspaces[name]
	if !ok {
		return nil, sqlerr.New(sqlerr.ERBadDB, "Unknown database '%s'", name)
	}
	if ks.Error != nil {
		return nil, sqlerr.Wrap(sqlerr.ERUnknown, ks.Error, "%s", ks.Error.Error())
	}
	if len(ks.Shards) == 0 {
		return nil, sqlerr.New(sqlerr.ERUnknown, "keyspace %s has no serving shards", name)
	}
	p.touch(ks)
	return ks, nil
}

// touch records a keyspace the statement names or runs on.
func (p *planner) touch(ks *Keyspace) {
	if p.touched == nil {
		p.touched = map[string]bool{}
	}
	p.touched[ks.Name] = true
}

// defaultKeyspace is where a statement without tables runs.
func (p *planner) defaultKeyspace() (*Keyspace, error) {
	if p.session != "" {
		return p.keyspaceByName(p.session)
	}
	for _, n := range p.vs.KeyspaceNames() {
		if ks := p.vs.Keyspaces[n]; !ks.Sharded && ks.Error == nil && len(ks.Shards) > 0 {
			p.touch(ks)
			return ks, nil
		}
	}
	for _, n := range p.vs.KeyspaceNames() {
		if ks := p.vs.Keyspaces[n]; ks.Error == nil && len(ks.Shards) > 0 {
			p.touch(ks)
			return ks, nil
		}
	}
	return nil, sqlerr.New(sqlerr.ERNoDB, "No database selected")
}

// resolveTable finds the keyspace and VSchema table of a table name and
// rewrites the name for the shards: the keyspace qualifier is dropped
// (each shard's default database is its keyspace) and routing rules
// apply.
func (p *planner) resolveTable(tn *ast.TableName, alias string) (*tableInfo, error) {
	if ti, ok := p.resolved[tn]; ok {
		out := *ti
		if alias != "" {
			out.alias = strings.ToLower(alias)
		}
		return &out, nil
	}
	ti, err := p.resolveTableOnce(tn, alias)
	if err != nil {
		return nil, err
	}
	if p.resolved == nil {
		p.resolved = map[*ast.TableName]*tableInfo{}
	}
	p.resolved[tn] = ti
	return ti, nil
}

func (p *planner) resolveTableOnce(tn *ast.TableName, alias string) (*tableInfo, error) {
	schema, name := tn.Schema.L, tn.Name.L
	if schema == "" && p.sysSession != "" {
		// The session's database is information_schema: name it, since
		// a tablet's connection has its keyspace's database selected.
		tn.Schema = ast.NewCIStr(p.sysSession)
		schema = p.sysSession
		p.rewrote = true
	}
	if alias == "" {
		alias = name
	}
	ti := &tableInfo{alias: strings.ToLower(alias), node: tn}
	if systemSchemas[schema] {
		ks, err := p.systemKeyspace()
		if err != nil {
			return nil, err
		}
		ti.ks, ti.system = ks, true
		return ti, nil
	}
	// Routing rules redirect "keyspace.table" or "table", by the rule of
	// the session's tablet type if there is one (routingrules.go).
	lookups := []string{}
	if schema != "" {
		lookups = append(lookups, schema+"."+name)
	} else {
		if p.session != "" {
			lookups = append(lookups, p.session+"."+name)
		}
		lookups = append(lookups, name)
	}
	for _, l := range lookups {
		if rt, ok := p.vs.rule(l, p.tabletType); ok {
			schema = rt.keyspace
			if !strings.EqualFold(rt.table, name) {
				if tn.Name.O != "" && alias == name {
					ti.alias = name
				}
				tn.Name = ast.NewCIStr(rt.table)
				name = strings.ToLower(rt.table)
				p.rewrote = true
			}
			break
		}
	}
	var ks *Keyspace
	switch {
	case schema != "":
		k, ok := p.vs.Keyspaces[schema]
		if !ok {
			return nil, sqlerr.New(sqlerr.ERNoSuchTable, "Table '%s.%s' doesn't exist (no keyspace %s)", schema, name, schema)
		}
		ks = k
	case p.session != "":
		k, err := p.keyspaceByName(p.session)
		if err != nil {
			return nil, err
		}
		ks = k
	default:
		// No keyspace selected: the table must be unique among VSchemas.
		var found []*Keyspace
		for _, n := range p.vs.KeyspaceNames() {
			if _, ok := p.vs.Keyspaces[n].Tables[name]; ok {
				found = append(found, p.vs.Keyspaces[n])
			}
		}
		switch len(found) {
		case 0:
			return nil, sqlerr.New(sqlerr.ERNoDB, "No database selected")
		case 1:
			ks = found[0]
		default:
			return nil, sqlerr.New(sqlerr.ERNoDB, "No database selected (table %s is in several keyspaces)", name)
		}
	}
	if ks.Error != nil {
		return nil, sqlerr.Wrap(sqlerr.ERUnknown, ks.Error, "%s", ks.Error.Error())
	}
	if len(ks.Shards) == 0 {
		return nil, sqlerr.New(sqlerr.ERUnknown, "keyspace %s has no serving shards", ks.Name)
	}
	ti.ks = ks
	p.touch(ks)
	ti.tbl = ks.Tables[name]
	if ks.Sharded && ti.tbl == nil {
		return nil, sqlerr.New(sqlerr.ERNoSuchTable, "Table '%s.%s' doesn't exist in the VSchema of sharded keyspace %s", ks.Name, name, ks.Name)
	}
	if tn.Schema.O != "" {
		tn.Schema = ast.CIStr{}
		p.rewrote = true
	}
	return ti, nil
}

// stripColumnSchemas drops keyspace qualifiers of three-part column names.
type stripColumnSchemas struct{ p *planner }

func (s stripColumnSchemas) Enter(n ast.Node) (ast.Node, bool) {
	if c, ok := n.(*ast.ColumnName); ok && c.Schema.L != "" {
		if _, isKs := s.p.vs.Keyspaces[c.Schema.O]; isKs {
			c.Schema = ast.CIStr{}
			s.p.rewrote = true
		}
	}
	return n, false
}

func (s stripColumnSchemas) Leave(n ast.Node) (ast.Node, bool) { return n, true }

// tableNames collects every table name under a node, including those of
// subqueries.
type tableNameCollector struct{ names []*ast.TableName }

func (c *tableNameCollector) Enter(n ast.Node) (ast.Node, bool) {
	if t, ok := n.(*ast.TableName); ok {
		c.names = append(c.names, t)
	}
	return n, false
}

func (c *tableNameCollector) Leave(n ast.Node) (ast.Node, bool) { return n, true }

func allTableNames(n ast.Node) []*ast.TableName {
	c := &tableNameCollector{}
	n.Accept(c)
	return c.names
}

// splitAnd splits a condition into its AND-ed conjuncts.
func splitAnd(e ast.ExprNode) []ast.ExprNode {
	if e == nil {
		return nil
	}
	switch x := e.(type) {
	case *ast.BinaryOperationExpr:
		if x.Op == opcode.LogicAnd {
			return append(splitAnd(x.L), splitAnd(x.R)...)
		}
	case *ast.ParenthesesExpr:
		if b, ok := x.Expr.(*ast.BinaryOperationExpr); ok && b.Op == opcode.LogicAnd {
			return splitAnd(b)
		}
	}
	return []ast.ExprNode{e}
}
