package router

import (
	"slices"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"

	"github.com/mosaicdb/mosaic/sqlerr"
)

// A table qualified by a shard target, `ks:shard`.t (as Vitess writes
// it), sends the whole statement to that shard of the keyspace, as
// `USE ks:shard` does for a session: no vindex decides, the shard's
// mysqld answers. Every table of such a statement must be of that
// keyspace (or a system schema's), and the qualifiers are dropped, the
// shard's default database being its keyspace.

// planShardTargeted plans stmt as one route to the shard its tables'
// qualifiers name; ok is false when no table names a shard target.
func (p *planner) planShardTargeted(stmt ast.StmtNode) (prim Primitive, ok bool, err error) {
	names := allTableNames(stmt)
	var ksName, shard string
	for _, tn := range names {
		k, s, found := strings.Cut(tn.Schema.O, ":")
		if !found {
			continue
		}
		if ksName != "" && (k != ksName || s != shard) {
			return nil, true, sqlerr.NotSupported("a statement naming several shard targets (%s:%s and %s)", ksName, shard, tn.Schema.O)
		}
		ksName, shard = k, s
	}
	if ksName == "" {
		return nil, false, nil
	}
	ks, err := p.keyspaceByName(ksName)
	if err != nil {
		return nil, true, err
	}
	if !slices.Contains(ks.Shards, shard) {
		return nil, true, sqlerr.New(sqlerr.ERBadDB, "Unknown database '%s:%s' (keyspace %s has no serving shard %s)", ksName, shard, ksName, shard)
	}
	target := ksName + ":" + shard
	for _, tn := range names {
		switch s := tn.Schema.O; {
		case s == target, strings.EqualFold(s, ksName):
			tn.Schema = ast.CIStr{}
		case s == "", systemSchemas[tn.Schema.L]:
		default:
			return nil, true, sqlerr.NotSupported("a table of another keyspace (%s.%s) in a statement targeting shard %s", s, tn.Name.O, target)
		}
	}
	stmt.Accept(stripTargetColumns{target: target})
	p.rewrote = true
	t, err := newTemplate(stmt, p.mode)
	if err != nil {
		return nil, true, err
	}
	return &Route{Opcode: Pinned, Keyspace: ks, PinnedShard: shard, Query: t}, true, nil
}

// stripTargetColumns drops a shard target qualifier from column names
// (`ks:shard`.t.c).
type stripTargetColumns struct{ target string }

func (s stripTargetColumns) Enter(n ast.Node) (ast.Node, bool) {
	if c, ok := n.(*ast.ColumnName); ok && c.Schema.O == s.target {
		c.Schema = ast.CIStr{}
	}
	return n, false
}

func (s stripTargetColumns) Leave(n ast.Node) (ast.Node, bool) { return n, true }
