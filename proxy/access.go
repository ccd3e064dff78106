package proxy

import (
	"slices"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proxy/mysqlsrv"
	"github.com/mosaicdb/mosaic/router"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// Per-account rules from the users file: which keyspaces an account may
// use (1044 otherwise) and whether it may write (1142 otherwise).

// checkKeyspaceAccess fails with 1044 when the account may not use ks.
func (cc *clientConn) checkKeyspaceAccess(ks string) error {
	if cc.acct == nil || cc.acct.mayUseKeyspace(ks) {
		return nil
	}
	return sqlerr.New(sqlerr.ERDBAccessDenied, "Access denied for user '%s'@'%s' to database '%s'", cc.acct.Name, cc.remoteHost(), ks)
}

// checkPlanAccess checks a routed plan of sql: what no gate account may
// send to mysqld (forbidden.go), every keyspace the statement names or
// runs on (those of its routes and router.Plan.Keyspaces: EXPLAIN's
// statement, information_schema rows of a keyspace, SHOW ... FROM ks),
// and that a read-only account does not write.
func (cc *clientConn) checkPlanAccess(plan *router.Plan, sql string) error {
	if err := cc.checkServerStatement(plan.Stmt, sql); err != nil {
		return err
	}
	if err := cc.checkNames(sql); err != nil {
		return err
	}
	if cc.acct == nil {
		return nil
	}
	if len(cc.acct.Keyspaces) > 0 {
		for _, ks := range append(planKeyspaces(plan.Primitive, nil), plan.Keyspaces...) {
			if err := cc.checkKeyspaceAccess(ks); err != nil {
				return err
			}
		}
	}
	if cc.acct.ReadOnly && isWrite(plan) {
		return cc.errWriteDenied(plan)
	}
	return nil
}

// checkShardTargetedAccess checks a statement sent unchanged to one shard
// (USE ks:shard, whose keyspace the account may use); plan is nil when the
// router could not parse it.
func (cc *clientConn) checkShardTargetedAccess(plan *router.Plan, sql string) error {
	var stmt ast.StmtNode
	if plan != nil {
		stmt = plan.Stmt
	}
	if err := cc.checkServerStatement(stmt, sql); err != nil {
		return err
	}
	if err := cc.checkNames(sql); err != nil {
		return err
	}
	if cc.acct == nil || !cc.acct.ReadOnly {
		return nil
	}
	if plan == nil || isWrite(plan) {
		return cc.errWriteDenied(plan)
	}
	return nil
}

// limitedKeyspaces says whether the account may use only some keyspaces.
func (cc *clientConn) limitedKeyspaces() bool {
	if cc.acct == nil {
		return false
	}
	for _, ks := range cc.acct.Keyspaces {
		if ks == "*" {
			return false
		}
	}
	return len(cc.acct.Keyspaces) > 0
}

// forAccount plans sql again for an account limited to some keyspaces when
// its plan lists the keyspaces (information_schema.SCHEMATA), so that it
// lists only the account's: as SHOW DATABASES, as mysqld lists only the
// databases an account has rights on.
func (cc *clientConn) forAccount(sql string, plan *router.Plan, bv router.BindVars, err error) (*router.Plan, router.BindVars, error) {
	if err != nil || plan == nil || !plan.ListsKeyspaces || !cc.limitedKeyspaces() {
		return plan, bv, err
	}
	return cc.g.router.PlanVisible(sql, cc.s.Keyspace, cc.s.TabletType, cc.s.ParseMode, cc.acct.mayUseKeyspace)
}

// isWrite says whether a plan may change data. SELECT ... FOR UPDATE is
// a read; statements the router could not parse count as writes.
func isWrite(plan *router.Plan) bool {
	if plan.ReadOnly {
		return false
	}
	if sel, ok := plan.Stmt.(*ast.SelectStmt); ok && sel.SelectIntoOpt == nil {
		return false
	}
	return true
}

func (cc *clientConn) errWriteDenied(plan *router.Plan) error {
	command, table := "UPDATE", ""
	if plan != nil {
		command, table = writeCommand(plan.Stmt), plan.FirstTable
	}
	return sqlerr.New(sqlerr.ERTableAccessDenied, "%s command denied to user '%s'@'%s' for table `%s`.`%s`",
		command, cc.acct.Name, cc.remoteHost(), cc.s.Keyspace, table)
}

// planKeyspaces collects the keyspaces of a plan's routes.
func planKeyspaces(p router.Primitive, out []string) []string {
	if p == nil {
		return out
	}
	if ks, ok := p.Describe()["keyspace"].(string); ok && ks != "" {
		out = append(out, ks)
	}
	for _, in := range p.Inputs() {
		out = planKeyspaces(in, out)
	}
	return out
}

// writeCommand names the privilege a write needs, for error 1142.
func writeCommand(stmt ast.StmtNode) string {
	switch stmt.(type) {
	case *ast.InsertStmt:
		return "INSERT"
	case *ast.DeleteStmt:
		return "DELETE"
	case *ast.CreateTableStmt, *ast.CreateIndexStmt, *ast.CreateViewStmt, *ast.CreateDatabaseStmt:
		return "CREATE"
	case *ast.DropTableStmt, *ast.DropIndexStmt, *ast.TruncateTableStmt, *ast.DropDatabaseStmt:
		return "DROP"
	case *ast.AlterTableStmt, *ast.RenameTableStmt:
		return "ALTER"
	}
	return "UPDATE"
}

// showGrants answers SHOW GRANTS [FOR CURRENT_USER | FOR the account
// itself] with what the gate lets the account do: ALL PRIVILEGES (SELECT
// for a read-only account) on every keyspace or on the keyspaces it may
// use. Gate accounts match any host, hence `name`@`%`. Another account's
// grants are refused, as mysqld refuses them to an account without
// rights on its mysql database.
func (cc *clientConn) showGrants(x *ast.ShowStmt) error {
	name := cc.s.User
	if u := x.User; u != nil && !u.CurrentUser && u.Username != name {
		return sqlerr.New(sqlerr.ERDBAccessDenied, "Access denied for user '%s'@'%s' to database 'mysql'", name, cc.remoteHost())
	}
	who := quoteIdent(name) + "@`%`"
	privs := "ALL PRIVILEGES"
	var keyspaces []string
	if cc.acct != nil {
		if cc.acct.ReadOnly {
			privs = "SELECT"
		}
		for _, ks := range cc.acct.Keyspaces {
			if ks == "*" {
				keyspaces = nil
				break
			}
			keyspaces = append(keyspaces, ks)
		}
	}
	global := "USAGE"
	if cc.acct != nil && len(cc.acct.Privileges) > 0 {
		global = strings.Join(cc.acct.Privileges, ", ")
	}
	var grants []string
	switch {
	case len(keyspaces) == 0 && privs == "ALL PRIVILEGES":
		grants = append(grants, "GRANT ALL PRIVILEGES ON *.* TO "+who)
	case len(keyspaces) == 0:
		if global != "USAGE" {
			privs += ", " + global
		}
		grants = append(grants, "GRANT "+privs+" ON *.* TO "+who)
	default:
		grants = append(grants, "GRANT "+global+" ON *.* TO "+who)
		for _, ks := range keyspaces {
			grants = append(grants, "GRANT "+privs+" ON "+quoteIdent(ks)+".* TO "+who)
		}
	}
	res := &querypb.QueryResult{Fields: []*querypb.Field{{Name: "Grants for " + name + "@%", Type: 253, Charset: 33, ColumnLength: 3072}}}
	for _, g := range grants {
		res.Rows = append(res.Rows, mysqlsrv.AppendLenEncString(nil, g))
	}
	return cc.writeResult(res)
}

// checkTargetServes refuses a write, in a session that targets one shard
// (USE ks:shard), to a shard that does not serve the keyspace's primary
// traffic: the target of a resharding before its switch, or its source
// after it. The replication streams own such a shard's rows: a write there
// would be overwritten by the copy, stop a stream on a duplicate key, or
// never reach the shards that serve. Reads go through (inspecting a shard
// is what such sessions are for), and so does everything on a serving
// shard.
func (cc *clientConn) checkTargetServes(plan *router.Plan) error {
	if cc.s.TabletType != topodatapb.TabletType_PRIMARY || plan != nil && !isWrite(plan) {
		return nil
	}
	ks := cc.g.router.VSchema().Keyspaces[cc.s.Keyspace]
	if ks == nil || slices.Contains(ks.ServedShards(topodatapb.TabletType_PRIMARY), cc.s.Shard) {
		return nil
	}
	return sqlerr.NotSupported("writes through USE %s:%s: shard %s does not serve the keyspace's primary traffic (a resharding's target before its switch, or its source after); its rows belong to the replication streams", cc.s.Keyspace, cc.s.Shard, cc.s.Shard)
}
