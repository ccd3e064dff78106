package router

import (
	"errors"
	"github.com/mosaicdb/mosaic/sqltext"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"

	"github.com/mosaicdb/mosaic/sqlerr"
)

// ErrConnState is the cause of the 1235 errors refusing a statement that
// would leave state on the tablet connection it ran on (a user-level
// lock, a temporary table, an SQL prepared statement, a HANDLER, a global
// read lock). The gate sends a session's statements over pooled tablet
// connections shared with other sessions, so such state would either be
// lost or reach another session; the tablet resets a connection after
// such a statement in any case. Test with errors.Is.
var ErrConnState = errors.New("statement would leave state on a pooled tablet connection")

// userLockFuncs are the user-level lock functions: a lock belongs to the
// mysqld connection that took it.
var userLockFuncs = map[string]bool{
	"get_lock": true, "release_lock": true, "release_all_locks": true,
	"is_used_lock": true, "is_free_lock": true,
}

func refuseConnState(format string, args ...any) error {
	e := sqlerr.NotSupported(format, args...)
	return sqlerr.Wrap(e.Num, ErrConnState, "%s", e.Message)
}

func errSQLPrepare() error {
	return refuseConnState("SQL PREPARE, EXECUTE and DEALLOCATE PREPARE (the protocol's prepared statements work)")
}

func errTemporary() error {
	return refuseConnState("temporary tables (CREATE TEMPORARY TABLE)")
}

func errUserLock() error {
	return refuseConnState("user-level lock functions (GET_LOCK, RELEASE_LOCK, RELEASE_ALL_LOCKS, IS_USED_LOCK, IS_FREE_LOCK) in this statement: they run on the session's lock session, in a SELECT or DO that reads no table and assigns no variable (SELECT GET_LOCK('name', 10))")
}

func errUserLockWithTables() error {
	return refuseConnState("user-level lock functions (GET_LOCK, RELEASE_LOCK, RELEASE_ALL_LOCKS, IS_USED_LOCK, IS_FREE_LOCK) in a statement that reads tables: the locks live on the session's lock session, the tables on other connections; run the lock function in a statement of its own")
}

func errReadLock() error {
	return refuseConnState("FLUSH TABLES ... WITH READ LOCK or FOR EXPORT through the gate")
}

func errHandler() error {
	return refuseConnState("HANDLER statements")
}

func errBackupLock() error {
	return refuseConnState("BACKUP STAGE and BACKUP LOCK through the gate")
}

// checkConnState refuses a parsed statement that would leave state on
// its tablet connection (ErrConnState). lock is set for a statement whose
// only such state is user-level locks: a SELECT or DO calling lock
// functions that reads no table and assigns no variable, which runs on the
// session's lock session (a Route with the Lock opcode). Lock functions
// anywhere else are refused.
func checkConnState(stmt ast.StmtNode) (lock bool, err error) {
	switch s := stmt.(type) {
	case *ast.PrepareStmt, *ast.ExecuteStmt, *ast.DeallocateStmt:
		return false, errSQLPrepare()
	case *ast.CreateTableStmt:
		if s.TemporaryKeyword != ast.TemporaryNone {
			return false, errTemporary()
		}
	case *ast.FlushStmt:
		if s.ReadLock {
			return false, errReadLock()
		}
	}
	v := &userLockFinder{}
	stmt.Accept(v)
	if !v.found {
		return false, nil
	}
	switch s := stmt.(type) {
	case *ast.SelectStmt:
		if s.SelectIntoOpt != nil || s.LockInfo != nil || v.assigns {
			return false, errUserLock()
		}
	case *ast.DoStmt:
		if v.assigns {
			return false, errUserLock()
		}
	default:
		return false, errUserLock()
	}
	if v.tables {
		return false, errUserLockWithTables()
	}
	return true, nil
}

// userLockFinder looks for a call of a user-level lock function, a table
// and a variable assignment (@x := ...) anywhere in a statement.
type userLockFinder struct{ found, tables, assigns bool }

func (v *userLockFinder) Enter(n ast.Node) (ast.Node, bool) {
	switch x := n.(type) {
	case *ast.FuncCallExpr:
		if userLockFuncs[x.FnName.L] {
			v.found = true
		}
	case *ast.TableName:
		v.tables = true
	case *ast.VariableExpr:
		if x.Value != nil {
			v.assigns = true
		}
	}
	return n, false
}

func (v *userLockFinder) Leave(n ast.Node) (ast.Node, bool) { return n, true }

// connStateText classifies a statement the parser rejected by its words:
// LOCK/UNLOCK TABLE(S) come back as a session statement the gate ignores,
// the statements that would leave state on the tablet connection as an
// ErrConnState error, anything else as (nil, nil).
func connStateText(sql string) (ast.StmtNode, error) {
	words := leadingWords(sql, 4)
	if len(words) == 0 {
		return nil, nil
	}
	second := ""
	if len(words) > 1 {
		second = words[1]
	}
	switch words[0] {
	case "lock":
		if second == "table" || second == "tables" {
			return &ast.LockTablesStmt{}, nil
		}
	case "unlock":
		if second == "table" || second == "tables" {
			return &ast.UnlockTablesStmt{}, nil
		}
	case "handler":
		return nil, errHandler()
	case "backup":
		return nil, errBackupLock()
	case "prepare", "execute", "deallocate":
		return nil, errSQLPrepare()
	case "flush":
		lower := strings.ToLower(sql)
		if strings.Contains(lower, "read lock") || strings.Contains(lower, "for export") {
			return nil, errReadLock()
		}
	case "create":
		if second == "temporary" || len(words) == 4 && words[1] == "or" && words[2] == "replace" && words[3] == "temporary" {
			return nil, errTemporary()
		}
	}
	lower := strings.ToLower(sql)
	for name := range userLockFuncs {
		if strings.Contains(lower, name+"(") {
			return nil, errUserLock()
		}
	}
	return nil, nil
}

// leadingWords returns up to n lower-case words of letters that start sql,
// after blanks and comments.
func leadingWords(sql string, n int) []string {
	var out []string
	for i := 0; len(out) < n; {
		t, ok := sqltext.Next(sql, i)
		if !ok {
			break
		}
		i = t.End
		if t.Kind == sqltext.Comment {
			continue
		}
		w := t.Text(sql)
		j := 0
		for j < len(w) && (w[j] >= 'a' && w[j] <= 'z' || w[j] >= 'A' && w[j] <= 'Z' || w[j] == '_') {
			j++
		}
		if t.Kind != sqltext.Word || j == 0 {
			break
		}
		out = append(out, strings.ToLower(w[:j]))
		if j < len(w) {
			break
		}
	}
	return out
}

// isTransactionText reports text that starts like ROLLBACK, SAVEPOINT or
// RELEASE SAVEPOINT, which must never reach a shard unparsed: the gate
// keeps the transaction's savepoints.
func isTransactionText(sql string) bool {
	words := leadingWords(sql, 2)
	if len(words) == 0 {
		return false
	}
	switch words[0] {
	case "rollback", "savepoint":
		return true
	case "release":
		return len(words) > 1 && words[1] == "savepoint"
	}
	return false
}
