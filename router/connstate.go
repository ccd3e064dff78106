package router

import (
	"errors"
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
	return refuseConnState("user-level locks (GET_LOCK, RELEASE_LOCK, RELEASE_ALL_LOCKS, IS_USED_LOCK, IS_FREE_LOCK)")
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
// its tablet connection (ErrConnState).
func checkConnState(stmt ast.StmtNode) error {
	switch s := stmt.(type) {
	case *ast.PrepareStmt, *ast.ExecuteStmt, *ast.DeallocateStmt:
		return errSQLPrepare()
	case *ast.CreateTableStmt:
		if s.TemporaryKeyword != ast.TemporaryNone {
			return errTemporary()
		}
	case *ast.FlushStmt:
		if s.ReadLock {
			return errReadLock()
		}
	}
	v := &userLockFinder{}
	stmt.Accept(v)
	if v.found {
		return errUserLock()
	}
	return nil
}

// userLockFinder looks for a call of a user-level lock function.
type userLockFinder struct{ found bool }

func (v *userLockFinder) Enter(n ast.Node) (ast.Node, bool) {
	if f, ok := n.(*ast.FuncCallExpr); ok && userLockFuncs[f.FnName.L] {
		v.found = true
	}
	return n, v.found
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
	i := 0
	for len(out) < n {
		i = skipSpaceAndComments(sql, i)
		j := i
		for j < len(sql) && (sql[j] >= 'a' && sql[j] <= 'z' || sql[j] >= 'A' && sql[j] <= 'Z' || sql[j] == '_') {
			j++
		}
		if j == i {
			break
		}
		out = append(out, strings.ToLower(sql[i:j]))
		i = j
	}
	return out
}

// skipSpaceAndComments skips blanks and comments from i.
func skipSpaceAndComments(s string, i int) int {
	for i < len(s) {
		switch c := s[i]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '#' || c == '-' && i+2 < len(s) && s[i+1] == '-' && (s[i+2] == ' ' || s[i+2] == '\t'):
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(s) && s[i+1] == '*':
			end := strings.Index(s[i+2:], "*/")
			if end < 0 {
				return len(s)
			}
			i += 2 + end + 2
		default:
			return i
		}
	}
	return i
}
