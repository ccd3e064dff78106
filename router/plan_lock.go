package router

import (
	"github.com/pingcap/tidb/pkg/parser/ast"

	"github.com/mosaicdb/mosaic/sqlerr"
)

// planLock plans a statement whose only connection state is user-level
// locks (checkConnState): a SELECT or DO of lock functions reading no
// table. It becomes a Route with the Lock opcode on the session's
// keyspace, which the proxy runs on the session's lock session: one tablet
// connection reserved for the session's locks, on the keyspace's first
// shard (its only shard when unsharded), so that every session of the
// keyspace takes its locks on the same mysqld.
func (p *planner) planLock(stmt ast.StmtNode) (Primitive, error) {
	switch s := stmt.(type) {
	case *ast.SelectStmt:
		prim, err := p.planQuery(s)
		if err != nil {
			return nil, err
		}
		r, ok := prim.(*Route)
		if !ok || (r.Opcode != AnyShard && r.Opcode != Unsharded) {
			return nil, errUserLock()
		}
		return &Route{Opcode: Lock, Keyspace: r.Keyspace, Query: r.Query}, nil
	case *ast.DoStmt:
		ks, err := p.defaultKeyspace()
		if err != nil {
			return nil, err
		}
		q, err := newTemplate(s, p.mode)
		if err != nil {
			return nil, err
		}
		return &Route{Opcode: Lock, Keyspace: ks, Query: q}, nil
	}
	return nil, sqlerr.NotSupported("user-level lock functions in %s statements", stmtName(stmt))
}
