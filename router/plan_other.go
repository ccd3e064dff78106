package router

import (
	"encoding/json"
	"sort"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/router/sqltypes"
	"github.com/mosaicdb/mosaic/sqlerr"
	"github.com/mosaicdb/mosaic/sqltext"
)

// planDDL sends DDL, unchanged, to every shard of the keyspace of its
// tables.
func (p *planner) planDDL(stmt ast.StmtNode, sql string) (Primitive, error) {
	switch stmt.(type) {
	case *ast.AlterDatabaseStmt:
		return nil, sqlerr.NotSupported("CREATE, ALTER or DROP DATABASE through the gate (use mosaicctl to manage keyspaces)")
	}
	var ks *Keyspace
	for _, tn := range allTableNames(stmt) {
		k, err := p.ddlKeyspace(tn)
		if err != nil {
			return nil, err
		}
		if ks != nil && ks != k {
			return nil, sqlerr.NotSupported("DDL naming tables of several keyspaces")
		}
		ks = k
	}
	if ks == nil {
		k, err := p.defaultKeyspace()
		if err != nil {
			return nil, err
		}
		ks = k
	}
	op := AllShards
	if !ks.Sharded {
		op = Unsharded
	}
	return &Route{Opcode: op, Keyspace: ks, Query: textTemplate(sql)}, nil
}

// ddlKeyspace finds the keyspace of a table named in DDL: tables being
// created need not be in the VSchema yet.
func (p *planner) ddlKeyspace(tn *ast.TableName) (*Keyspace, error) {
	name := tn.Schema.O
	if name == "" {
		name = p.session
	}
	if name == "" {
		return nil, sqlerr.New(sqlerr.ERNoDB, "No database selected")
	}
	if systemSchemas[strings.ToLower(name)] {
		return nil, sqlerr.NotSupported("DDL on system schemas")
	}
	return p.keyspaceByName(name)
}

// planShow answers SHOW statements from one shard.
func (p *planner) planShow(s *ast.ShowStmt, sql string) (Primitive, error) {
	if p.sysSession != "" {
		if q, ok := p.showInSysSession(s); ok {
			sql = q
		}
	}
	var ks *Keyspace
	var err error
	switch {
	case s.DBName != "" && systemSchemas[strings.ToLower(s.DBName)],
		s.Table != nil && systemSchemas[s.Table.Schema.L]:
		ks, err = p.defaultKeyspace()
	case s.DBName != "":
		ks, err = p.keyspaceByName(s.DBName)
	case s.Table != nil && s.Table.Schema.O != "":
		ks, err = p.keyspaceByName(s.Table.Schema.O)
	default:
		ks, err = p.defaultKeyspace()
	}
	if err != nil {
		return nil, err
	}
	op := AnyShard
	if !ks.Sharded {
		op = Unsharded
	}
	return &Route{Opcode: op, Keyspace: ks, Query: textTemplate(sql)}, nil
}

// showInSysSession names information_schema in a SHOW of tables or of a
// table's columns, indexes or definition, in a session that selected it:
// a tablet's connection has its keyspace's database selected. It returns
// the statement's new text, or false when it names no database.
func (p *planner) showInSysSession(s *ast.ShowStmt) (string, bool) {
	switch s.Tp {
	case ast.ShowTables, ast.ShowTableStatus:
		if s.DBName != "" {
			return "", false
		}
		s.DBName = p.sysSession
	case ast.ShowColumns, ast.ShowIndex, ast.ShowCreateTable:
		if s.Table == nil || s.Table.Schema.O != "" || s.DBName != "" {
			return "", false
		}
		s.Table.Schema = ast.NewCIStr(p.sysSession)
	default:
		return "", false
	}
	q, err := restoreSQLIn(s, p.mode)
	if err != nil {
		return "", false
	}
	p.rewrote = true
	return q, true
}

// explainRows describes a plan as EXPLAIN FORMAT=mosaic returns it: one
// row per operator, depth-first, with its route and per-shard SQL.
//
// read, when set, gives the queries of a ByLookup route, whose shards are
// known once its lookup table is read: EXPLAIN reads it.
func explainRows(prim Primitive, bv BindVars, read func(*Route) ([]ShardQuery, error)) *querypb.QueryResult {
	names := []string{"id", "operator", "variant", "keyspace", "shards", "query", "details"}
	res := &querypb.QueryResult{}
	for _, n := range names {
		res.Fields = append(res.Fields, &querypb.Field{Name: n, Type: sqltypes.TypeVarString, Charset: 45, ColumnLength: 1024})
	}
	id := 0
	var walk func(d map[string]any, depth int)
	walk = func(d map[string]any, depth int) {
		id++
		str := func(k string) []byte {
			v, ok := d[k]
			if !ok {
				return []byte{}
			}
			if s, ok := v.(string); ok {
				return []byte(s)
			}
			b, _ := json.Marshal(v)
			return b
		}
		details := map[string]any{}
		keys := make([]string, 0, len(d))
		for k := range d {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			switch k {
			case "operator", "variant", "keyspace", "query", "inputs", "shards":
				continue
			}
			details[k] = d[k]
		}
		det := []byte{}
		if len(details) > 0 {
			det, _ = json.Marshal(details)
		}
		op := strings.Repeat("  ", depth) + string(str("operator"))
		res.Rows = append(res.Rows, sqltypes.EncodeRow([][]byte{
			[]byte(itoa(id)), []byte(op), str("variant"), str("keyspace"), str("shards"), str("query"), det,
		}))
		if in, ok := d["inputs"].([]any); ok {
			for _, c := range in {
				if m, ok := c.(map[string]any); ok {
					walk(m, depth+1)
				}
			}
		}
	}
	walk(describeResolved(prim, bv, read), 0)
	return res
}

// describeWithShards adds the target shards to route descriptions where
// they are known without bind values.
func describeWithShards(prim Primitive, bv BindVars) map[string]any {
	return describeResolved(prim, bv, nil)
}

// describeResolved is describeWithShards with read, when set, giving the
// queries of ByLookup routes.
func describeResolved(prim Primitive, bv BindVars, read func(*Route) ([]ShardQuery, error)) map[string]any {
	d := prim.Describe()
	var qs []ShardQuery
	var qerr error
	switch x := prim.(type) {
	case *Route:
		if x.Opcode == ByLookup && read != nil {
			qs, qerr = read(x)
			if qerr == nil {
				s := make([]string, len(qs))
				for i, q := range qs {
					s[i] = q.Shard
				}
				d["shards"] = strings.Join(s, ",")
			}
			break
		}
		qs, qerr = x.queries(bv, topodatapb.TabletType_PRIMARY)
	case *Insert:
		qs, _, qerr = x.queries(bv)
	}
	if qerr == nil && len(qs) > 0 {
		lines := make([]string, len(qs))
		for i, q := range qs {
			lines[i] = q.Keyspace + "/" + q.Shard + ": " + q.SQL
		}
		d["shard_queries"] = lines
	}
	switch r := prim.(type) {
	case *Route:
		switch r.Opcode {
		case Unsharded, AnyShard:
			d["shards"] = r.Keyspace.Shards[0]
		case Pinned:
			d["shards"] = r.PinnedShard
		case Scatter, AllShards:
			d["shards"] = strings.Join(r.Keyspace.Shards, ",")
		case ByLookup:
		default:
			if ts, err := r.targets(bv, r.set(topodatapb.TabletType_PRIMARY)); err == nil {
				var s []string
				for _, t := range ts {
					s = append(s, t.shard)
				}
				d["shards"] = strings.Join(s, ",")
			}
		}
	}
	if ins := prim.Inputs(); len(ins) > 0 {
		var in []any
		for _, c := range ins {
			in = append(in, describeResolved(c, bv, read))
		}
		d["inputs"] = in
	}
	return d
}

// unparsedDDL plans DDL the parser rejected, for a session on sharded
// keyspace ks: every shard of ks gets the text as written, as for the DDL
// the parser reads (planDDL). A name qualified by another keyspace is
// refused: only the parser could tell where it belongs. perr is the
// parser's error, for text that is no DDL after all.
func unparsedDDL(sql string, ks *Keyspace, perr error) (*Plan, BindVars, error) {
	for i := 0; ; {
		t, ok := sqltext.Next(sql, i)
		if !ok {
			break
		}
		i = t.End
		if t.Kind != sqltext.Word && (t.Kind != sqltext.Quoted || sql[t.Start] != '`') {
			continue
		}
		dot, ok := sqltext.Next(sql, t.End)
		if !ok || dot.Kind != sqltext.Punct || sql[dot.Start] != '.' {
			continue
		}
		name := strings.Trim(t.Text(sql), "`")
		if !strings.EqualFold(name, ks.Name) {
			return nil, nil, sqlerr.NotSupported("DDL the SQL parser cannot read that names %s.%s on sharded keyspace %s (run it in a session of that keyspace, without the qualifier)", name, strings.Trim(textAfter(sql, dot.End), "`"), ks.Name)
		}
	}
	return &Plan{Kind: PlanRoute, StmtType: "DDL", Type: "AllShards", UsesTables: true,
		Primitive: &Route{Opcode: AllShards, Keyspace: ks, Query: textTemplate(sql)}, Stats: &PlanStats{query: sql}}, nil, nil
}

// textAfter returns the token after position i, "" at the end.
func textAfter(sql string, i int) string {
	t, ok := sqltext.Next(sql, i)
	if !ok {
		return ""
	}
	return t.Text(sql)
}
