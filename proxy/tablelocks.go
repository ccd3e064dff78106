package proxy

import (
	"github.com/pingcap/tidb/pkg/parser/ast"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// ignoreTableLock answers LOCK TABLES and UNLOCK TABLES with OK and a
// Note (1235): a session's statements run on pooled tablet connections
// shared with other sessions, where a table lock would outlive the
// statement and fail or block everyone else's queries. Ignoring them, as
// Vitess does, lets mysqldump output restore through the gate.
func (cc *clientConn) ignoreTableLock(stmt ast.StmtNode) error {
	what := "LOCK TABLES"
	if _, ok := stmt.(*ast.UnlockTablesStmt); ok {
		what = "UNLOCK TABLES"
	}
	cc.s.addWarnings([]*querypb.Warning{{Level: "Note", Code: sqlerr.ERNotSupportedYet, Message: what + " is ignored by Mosaic"}})
	return cc.writeOK(0, 0)
}
