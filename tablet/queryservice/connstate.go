package queryservice

// leavesState reports whether sql, of type st (classify), may leave state
// on its mysqld connection that outlives the statement and that no
// settings key describes: table locks (LOCK TABLES, FLUSH ... WITH READ
// LOCK, BACKUP STAGE/LOCK), user-level locks (GET_LOCK), temporary
// tables, SQL prepared statements, HANDLER cursors, user variables
// assigned inside a statement (@v := ..., INTO @v), SET STATEMENT, and
// whatever a stored procedure or any statement of no known type does.
// Such a connection is reset before it goes back to its pool (see
// PooledConn.Recycle), so the next user of the connection cannot see, or
// be blocked by, what the statement left behind.
//
// It errs on the side of true: a false positive costs one
// COM_RESET_CONNECTION. It is one pass over sql and does not allocate.
func leavesState(st, sql string) bool {
	switch st {
	case stmtOther:
		// LOCK, UNLOCK, FLUSH, HANDLER, PREPARE, EXECUTE, DEALLOCATE,
		// BACKUP, DO, CALL, and anything unknown.
		return true
	case stmtDDL:
		if createsTemporary(sql) {
			return true
		}
	case stmtSet:
		// SET STATEMENT var = v FOR <statement>: the inner statement is
		// not classified.
		if secondWordIs(sql, "statement") {
			return true
		}
	}
	return mentionsState(sql)
}

// mentionsState scans sql for GET_LOCK, ":=" and "INTO @", wherever they
// appear (string literals included: a false positive is cheap).
func mentionsState(sql string) bool {
	for i := 0; i < len(sql); i++ {
		switch c := sql[i]; c {
		case ':':
			if i+1 < len(sql) && sql[i+1] == '=' {
				return true
			}
		case '_':
			if i >= 3 && i+5 <= len(sql) && eqFold(sql[i-3:i], "get") && eqFold(sql[i+1:i+5], "lock") {
				return true
			}
		case 'o', 'O':
			if i >= 3 && eqFold(sql[i-3:i+1], "into") {
				j := i + 1
				for j < len(sql) && (sql[j] == ' ' || sql[j] == '\t' || sql[j] == '\n' || sql[j] == '\r') {
					j++
				}
				if j < len(sql) && sql[j] == '@' {
					return true
				}
			}
		}
	}
	return false
}

// createsTemporary reports CREATE [OR REPLACE] TEMPORARY ...
func createsTemporary(sql string) bool {
	i := skipBlanks(sql, 0)
	w, i := nextWord(sql, i)
	if !eqFold(w, "create") {
		return false
	}
	w, i = nextWord(sql, i)
	if eqFold(w, "or") {
		if w, i = nextWord(sql, i); !eqFold(w, "replace") {
			return false
		}
		w, _ = nextWord(sql, i)
	}
	return eqFold(w, "temporary")
}

// secondWordIs reports whether the second word of sql is kw.
func secondWordIs(sql, kw string) bool {
	_, i := nextWord(sql, skipBlanks(sql, 0))
	w, _ := nextWord(sql, i)
	return eqFold(w, kw)
}

// nextWord returns the word of letters at or after i (blanks and
// comments skipped) and the index after it.
func nextWord(sql string, i int) (string, int) {
	i = skipBlanks(sql, i)
	j := i
	for j < len(sql) && isLetter(sql[j]) {
		j++
	}
	return sql[i:j], j
}

// markState records on pc what sql, of type st, may have left on it: a SET
// or USE changes the session outside the tracked settings (the connection
// is reset before it is next handed out with settings), and a statement
// that leavesState makes Recycle reset the connection before it goes
// back to the pool. A transaction's connection keeps the mark until the
// transaction ends.
func markState(pc *PooledConn, st, sql string) {
	if st == stmtSet || st == stmtUse {
		pc.settings = dirtySettings
	}
	if leavesState(st, sql) {
		pc.reset = true
	}
}
