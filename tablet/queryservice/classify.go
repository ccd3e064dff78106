package queryservice

import "github.com/mosaicdb/mosaic/sqltext"

// Statement types, the stmt_type label of the query metrics: upper case,
// as the gate's.
const (
	stmtSelect   = "SELECT"
	stmtInsert   = "INSERT"
	stmtUpdate   = "UPDATE"
	stmtDelete   = "DELETE"
	stmtReplace  = "REPLACE"
	stmtSet      = "SET"
	stmtUse      = "USE"
	stmtBegin    = "BEGIN"
	stmtCommit   = "COMMIT"
	stmtRollback = "ROLLBACK"
	// stmtSavepoint is SAVEPOINT and RELEASE SAVEPOINT (ROLLBACK TO
	// SAVEPOINT is a ROLLBACK): they leave nothing that outlives the
	// transaction.
	stmtSavepoint = "SAVEPOINT"
	stmtDDL       = "DDL"
	stmtShow      = "SHOW"
	stmtOther     = "OTHER"
)

var stmtTypes = []string{stmtSelect, stmtInsert, stmtUpdate, stmtDelete, stmtReplace, stmtSet, stmtUse, stmtBegin, stmtCommit, stmtRollback, stmtSavepoint, stmtDDL, stmtShow, stmtOther}

// classify returns the statement type from the first keyword of sql,
// skipping blanks and comments. It does not allocate.
func classify(sql string) string {
	i := skipBlanks(sql, 0)
	j := i
	for j < len(sql) && isLetter(sql[j]) {
		j++
	}
	word := sql[i:j]
	switch {
	case eqFold(word, "select"), eqFold(word, "with"), eqFold(word, "values"), eqFold(word, "table"):
		return stmtSelect
	case eqFold(word, "insert"):
		return stmtInsert
	case eqFold(word, "update"):
		return stmtUpdate
	case eqFold(word, "delete"):
		return stmtDelete
	case eqFold(word, "replace"):
		return stmtReplace
	case eqFold(word, "set"):
		return stmtSet
	case eqFold(word, "use"):
		return stmtUse
	case eqFold(word, "begin"):
		return stmtBegin
	case eqFold(word, "start"):
		k := skipBlanks(sql, j)
		if k+11 <= len(sql) && eqFold(sql[k:k+11], "transaction") {
			return stmtBegin
		}
		return stmtOther
	case eqFold(word, "commit"):
		return stmtCommit
	case eqFold(word, "rollback"):
		return stmtRollback
	case eqFold(word, "savepoint"):
		return stmtSavepoint
	case eqFold(word, "release"):
		if w, _ := nextWord(sql, j); eqFold(w, "savepoint") {
			return stmtSavepoint
		}
		return stmtOther
	case eqFold(word, "create"), eqFold(word, "alter"), eqFold(word, "drop"), eqFold(word, "truncate"), eqFold(word, "rename"):
		return stmtDDL
	case eqFold(word, "show"), eqFold(word, "describe"), eqFold(word, "desc"), eqFold(word, "explain"):
		return stmtShow
	}
	return stmtOther
}

// skipBlanks skips white space, comments and opening parentheses.
func skipBlanks(s string, i int) int {
	for {
		i = sqltext.SkipSpaceAndComments(s, i)
		if i < len(s) && s[i] == '(' {
			i++
			continue
		}
		return i
	}
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// eqFold compares an ASCII word with a lower-case keyword.
func eqFold(word, kw string) bool {
	if len(word) != len(kw) {
		return false
	}
	for i := 0; i < len(word); i++ {
		c := word[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != kw[i] {
			return false
		}
	}
	return true
}
