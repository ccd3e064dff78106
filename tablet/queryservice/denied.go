package queryservice

import (
	"slices"
	"strings"
	"sync"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
	_ "github.com/pingcap/tidb/pkg/parser/test_driver" // literal values of the AST

	"github.com/mosaicdb/mosaic/sqlerr"
)

// Denied tables: once a table move (MoveTables) has switched a table's
// traffic to another keyspace, the shard records of the keyspace it left
// deny the table to their primaries (TabletControl.denied_tables), which
// refuse every statement that names it. The gates route the table
// elsewhere by then; the denial keeps a gate that has not seen the new
// routing rules yet from writing where nobody reads any more. Statements
// are parsed only while some table is denied.

// deniedSet is the tables denied now, lower case, with the parsers that
// check statements against them.
type deniedSet struct {
	names   map[string]bool
	list    []string
	parsers sync.Pool
}

// SetDeniedTables replaces the tables the service refuses statements
// for; nil or empty denies none.
func (s *Service) SetDeniedTables(tables []string) {
	if len(tables) == 0 {
		if s.denied.Load() != nil {
			s.denied.Store(nil)
		}
		return
	}
	list := make([]string, 0, len(tables))
	for _, t := range tables {
		list = append(list, strings.ToLower(t))
	}
	slices.Sort(list)
	list = slices.Compact(list)
	if cur := s.denied.Load(); cur != nil && slices.Equal(cur.list, list) {
		return
	}
	d := &deniedSet{names: map[string]bool{}, list: list}
	for _, t := range list {
		d.names[t] = true
	}
	d.parsers.New = func() any { return parser.New() }
	s.denied.Store(d)
}

// DeniedTables returns the tables denied now, lower case and sorted.
func (s *Service) DeniedTables() []string {
	if d := s.denied.Load(); d != nil {
		return slices.Clone(d.list)
	}
	return nil
}

// checkDenied refuses sql when it names a denied table. A statement the
// parser does not take goes through: the gate sends only statements it
// parsed with the same parser.
func (s *Service) checkDenied(sql string) error {
	d := s.denied.Load()
	if d == nil {
		return nil
	}
	p := d.parsers.Get().(*parser.Parser)
	stmts, _, err := p.Parse(sql, "", "")
	d.parsers.Put(p)
	if err != nil {
		return nil
	}
	v := &tableNames{denied: d.names}
	for _, st := range stmts {
		st.Accept(v)
		if v.found != "" {
			e := sqlerr.New(sqlerr.ERUnknown, "table %s was moved to another keyspace (MoveTables): this shard no longer serves it; run the statement again", v.found)
			e.TableMoved = true
			return e
		}
	}
	return nil
}

// tableNames finds the first denied table a statement names.
type tableNames struct {
	denied map[string]bool
	found  string
}

func (v *tableNames) Enter(n ast.Node) (ast.Node, bool) {
	if tn, ok := n.(*ast.TableName); ok && v.found == "" && v.denied[tn.Name.L] {
		v.found = tn.Name.O
	}
	return n, v.found != ""
}

func (v *tableNames) Leave(n ast.Node) (ast.Node, bool) { return n, true }
