package router

import (
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"

	"github.com/mosaicdb/mosaic/sqlerr"
)

// planCall sends a CALL to the only shard of the session's keyspace, or
// of the keyspace that qualifies the procedure's name (a
// procedure lives in one mysqld; on a sharded keyspace it would see one
// shard's rows, so it is refused). The statement is regenerated so that
// the ? markers of a prepared CALL become the values of each execution;
// without markers, passthrough sends the client's text.
func (p *planner) planCall(s *ast.CallStmt) (Primitive, error) {
	var ks *Keyspace
	var err error
	if schema := s.Procedure.Schema.O; schema != "" && !systemSchemas[strings.ToLower(schema)] {
		// CALL ks.p(): the keyspace's shards, where the keyspace is the
		// connection's default database.
		if ks, err = p.keyspaceByName(schema); err != nil {
			return nil, err
		}
		s.Procedure.Schema = ast.NewCIStr("")
		p.rewrote = true
	} else if ks, err = p.defaultKeyspace(); err != nil {
		return nil, err
	}
	if ks.Sharded {
		return nil, sqlerr.NotSupported("CALL on sharded keyspace %s (stored procedures run on unsharded keyspaces, or on one shard with USE %s:<shard>)", ks.Name, ks.Name)
	}
	t, err := newTemplate(s, p.mode)
	if err != nil {
		return nil, err
	}
	return &Route{Opcode: Unsharded, Keyspace: ks, Query: t}, nil
}
