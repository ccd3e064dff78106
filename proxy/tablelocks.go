package proxy

import (
	"slices"
	"strings"

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

// createDatabase answers CREATE DATABASE for a keyspace that exists as
// mysqld answers for a database that does: error 1007, or OK with a
// Note 1007 under IF NOT EXISTS (tools and frameworks that create their
// database before migrating it go on). A new keyspace is made with
// mosaicctl, not through the gate.
func (cc *clientConn) createDatabase(st *ast.CreateDatabaseStmt) error {
	name := st.Name.O
	if err := cc.checkKeyspaceAccess(name); err != nil {
		return err
	}
	if !slices.Contains(cc.g.router.VSchema().KeyspaceNames(), name) {
		return sqlerr.NotSupported("CREATE DATABASE through the gate (create keyspace %s with mosaicctl)", name)
	}
	if !st.IfNotExists {
		return sqlerr.New(sqlerr.ERDBCreateExists, "Can't create database '%s'; database exists", name)
	}
	cc.s.addWarnings([]*querypb.Warning{{Level: "Note", Code: sqlerr.ERDBCreateExists, Message: "Can't create database '" + name + "'; database exists"}})
	return cc.writeOK(0, 0)
}

// dropDatabase answers DROP DATABASE for a name that is no keyspace as
// mysqld answers for a database that does not exist: error 1008, or OK
// with a Note 1008 under IF EXISTS (test set-ups and tools such as
// mariadb-slap drop their database before creating it). A keyspace is
// dropped with mosaicctl, not through the gate.
func (cc *clientConn) dropDatabase(st *ast.DropDatabaseStmt) error {
	name := st.Name.O
	if err := cc.checkKeyspaceAccess(name); err != nil {
		return err
	}
	if strings.EqualFold(name, "information_schema") {
		return sqlerr.New(sqlerr.ERDBAccessDenied, "Access denied for user '%s'@'%s' to database '%s'", cc.s.User, cc.s.Host, name)
	}
	if slices.Contains(cc.g.router.VSchema().KeyspaceNames(), name) {
		return sqlerr.NotSupported("CREATE, ALTER or DROP DATABASE through the gate (use mosaicctl to manage keyspaces)")
	}
	msg := "Can't drop database '" + name + "'; database doesn't exist"
	if !st.IfExists {
		return sqlerr.New(sqlerr.ERDBDropExists, "%s", msg)
	}
	cc.s.addWarnings([]*querypb.Warning{{Level: "Note", Code: sqlerr.ERDBDropExists, Message: msg}})
	return cc.writeOK(0, 0)
}
