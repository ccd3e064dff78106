package proxy

import (
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"

	"github.com/mosaicdb/mosaic/router"
	"github.com/mosaicdb/mosaic/sqlerr"
	"github.com/mosaicdb/mosaic/sqltext"
)

// Statements no gate account may send to a tablet's mysqld, whatever its
// rights at the gate. Every gate account reaches mysqld as one of the
// tablets' two shared accounts (mosaic_app, mosaic_ro): mysqld lets an
// account kill its own threads, see their plans (SHOW EXPLAIN FOR) and
// processes (information_schema.PROCESSLIST), change its own password and
// end any XA branch, so through a shared account one gate account could
// reach the statements of all others, or lock the tablet out of its own
// mysqld. And the _mosaic database (two-phase commit records, the
// heartbeat) is the tablets' own: the application's account may move a
// commit record to COMMIT, at the commit point, and no client may.
//
// The gate's own forms (KILL <gate id>, SHOW PROCESSLIST, the users file)
// stay; what the parser cannot read is judged by its words.

// mosaicSchema is the tablets' own database.
const mosaicSchema = "_mosaic"

// checkNames refuses a statement that names the _mosaic database (as a
// name, not inside a string) or information_schema.PROCESSLIST, in any
// part of it: a view, a trigger's or a routine's body included.
func (cc *clientConn) checkNames(sql string) error {
	if cc.s.ParseMode&router.NoBackslashEscapes != 0 {
		// Read as mysqld reads it: 'a\' _mosaic.t names the schema.
		sql = sqltext.WithoutBackslashEscapes(sql)
	}
	switch forbiddenName(sql) {
	case mosaicSchema:
		return cc.dbAccessDenied(mosaicSchema)
	case "processlist":
		return sqlerr.NotSupported("information_schema.PROCESSLIST through the gate (SHOW PROCESSLIST lists the gate's connections, whose ids KILL takes)")
	}
	return nil
}

// forbiddenName returns the forbidden name sql names ("_mosaic" or
// "processlist", lower-cased), or "". Most statements name neither and
// cost a scan for two words.
func forbiddenName(sql string) string {
	mosaic, plist := containsFold(sql, mosaicSchema), containsFold(sql, "processlist")
	if !mosaic && !plist {
		return ""
	}
	for i := 0; ; {
		t, ok := sqltext.Next(sql, i)
		if !ok {
			return ""
		}
		i = t.End
		var name string
		switch t.Kind {
		case sqltext.Word:
			name = t.Text(sql)
		case sqltext.Quoted:
			if text := t.Text(sql); text[0] == '`' && len(text) >= 2 {
				name = strings.ReplaceAll(text[1:len(text)-1], "``", "`")
			}
		case sqltext.Comment:
			// An executable comment is SQL: look inside.
			if text := t.Text(sql); strings.HasPrefix(text, "/*!") || strings.HasPrefix(text, "/*M!") {
				i = t.Start + 3
			}
		}
		switch {
		case strings.EqualFold(name, mosaicSchema):
			return mosaicSchema
		case strings.EqualFold(name, "processlist") && !isShowProcesslist(sql):
			return "processlist"
		}
	}
}

// isShowProcesslist says whether sql is SHOW [FULL] PROCESSLIST, the
// gate's own.
func isShowProcesslist(sql string) bool {
	w := statementWords(sql, 3)
	return len(w) >= 2 && w[0] == "SHOW" && (w[1] == "PROCESSLIST" || len(w) == 3 && w[1] == "FULL" && w[2] == "PROCESSLIST")
}

// dbAccessDenied is mysqld's 1044 for the connection's account.
func (cc *clientConn) dbAccessDenied(db string) error {
	name := ""
	if cc.s != nil {
		name = cc.s.User
	}
	return sqlerr.New(sqlerr.ERDBAccessDenied, "Access denied for user '%s'@'%s' to database '%s'", name, cc.remoteHost(), db)
}

// checkServerStatement refuses account management, KILL, XA and SHOW
// EXPLAIN/ANALYZE FOR on the way to mysqld. stmt is the parsed statement,
// nil when the parser rejected sql; then its first words decide.
func (cc *clientConn) checkServerStatement(stmt ast.StmtNode, sql string) error {
	if stmt != nil {
		switch x := stmt.(type) {
		case *ast.SetPwdStmt:
			if x.User != nil && !x.User.CurrentUser {
				// Another account's: mysqld's answer to an account
				// without rights on its mysql database.
				return cc.dbAccessDenied("mysql")
			}
			return errSetPassword
		case *ast.CreateUserStmt, *ast.AlterUserStmt, *ast.DropUserStmt, *ast.RenameUserStmt,
			*ast.GrantStmt, *ast.RevokeStmt, *ast.GrantRoleStmt, *ast.RevokeRoleStmt,
			*ast.SetRoleStmt, *ast.SetDefaultRoleStmt, *ast.GrantProxyStmt:
			return errAccountManagement
		}
		return nil
	}
	return checkServerWords(statementWords(sql, 8))
}

var (
	errSetPassword = sqlerr.NotSupported("SET PASSWORD through the gate: a gate account's password is in the gate's users file")
	// errAccountManagement is mysqld's answer to an account without
	// CREATE USER.
	errAccountManagement = sqlerr.New(sqlerr.ERSpecifiedAccessDenied, "Access denied; you need (at least one of) the CREATE USER privilege(s) for this operation")
)

// checkServerWords judges a statement the parser rejected by its first
// words (upper-cased, see statementWords).
func checkServerWords(w []string) error {
	if len(w) == 0 {
		return nil
	}
	word := func(i int) string {
		if i < len(w) {
			return w[i]
		}
		return ""
	}
	switch w[0] {
	case "XA":
		return sqlerr.NotSupported("XA statements through the gate (SET transaction_mode = 'twopc' commits across shards atomically)")
	case "KILL":
		return sqlerr.NotSupported("this KILL form through the gate (KILL [CONNECTION | QUERY] <id> takes the ids of SHOW PROCESSLIST)")
	case "SHOW":
		switch word(1) {
		case "EXPLAIN", "ANALYZE":
			return sqlerr.NotSupported("SHOW %s FOR through the gate: its thread ids are mysqld's", word(1))
		}
	case "GRANT", "REVOKE":
		return errAccountManagement
	case "CREATE", "ALTER", "DROP", "RENAME":
	words:
		for _, x := range w[1:] {
			switch x {
			case "OR", "REPLACE", "IF", "NOT", "EXISTS":
			case "USER", "ROLE":
				return errAccountManagement
			default:
				break words
			}
		}
	case "SET":
		switch word(1) {
		case "PASSWORD":
			return errSetPassword
		case "ROLE":
			return errAccountManagement
		case "DEFAULT":
			if word(2) == "ROLE" {
				return errAccountManagement
			}
		case "STATEMENT":
			// SET STATEMENT var = value [, ...] FOR <statement>.
			for i, x := range w {
				if x == "FOR" {
					return checkServerWords(w[i+1:])
				}
			}
			return sqlerr.NotSupported("SET STATEMENT through the gate without its statement among its first words")
		}
	}
	return nil
}

// statementWords returns up to n of sql's first words and punctuation,
// words upper-cased, skipping comments and reading executable ones; a
// SET STATEMENT's words are read up to its FOR, however many.
func statementWords(sql string, n int) []string {
	var out []string
	stmt := false
	for pos := 0; len(out) < n || stmt; {
		t, ok := nextToken(sql, pos)
		if !ok {
			break
		}
		pos = t.end
		out = append(out, t.text)
		if len(out) == 2 && out[0] == "SET" && out[1] == "STATEMENT" {
			stmt = true
		}
		if stmt && t.text == "FOR" {
			stmt = false
			n = len(out) + 4
		}
	}
	return out
}

// containsFold reports whether s holds sub in any case (sub is lower case
// ASCII, starting with a byte that has no upper case or with a letter),
// without allocating: it looks for sub's first byte with IndexByte, in
// both cases, and compares the rest there.
func containsFold(s, sub string) bool {
	first := sub[0]
	upper := first
	if 'a' <= first && first <= 'z' {
		upper -= 'a' - 'A'
	}
	for _, c := range []byte{first, upper} {
		for i := 0; ; {
			k := strings.IndexByte(s[i:], c)
			if k < 0 || i+k+len(sub) > len(s) {
				break
			}
			i += k
			if strings.EqualFold(s[i+1:i+len(sub)], sub[1:]) {
				return true
			}
			i++
		}
		if upper == first {
			break
		}
	}
	return false
}
