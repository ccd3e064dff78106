package proxy

import (
	"strconv"
	"strings"
)

// Statements the gate recognizes from their words before parsing: the
// transaction statements in all their MySQL forms (the parser drops
// WITH CONSISTENT SNAPSHOT, rejects BEGIN WORK, and cannot tell SET
// TRANSACTION READ ONLY from SET SESSION TRANSACTION READ ONLY), and the
// SHOW WARNINGS family, which the gate answers itself.

type controlKind int

const (
	ctlBegin controlKind = iota + 1
	ctlCommit
	ctlRollback
	// ctlSetTx is SET [SESSION|GLOBAL] TRANSACTION characteristics.
	ctlSetTx
	ctlShowWarnings
	ctlShowErrors
	ctlXA
	// ctlSavepoint is SAVEPOINT name, ctlRelease RELEASE SAVEPOINT name;
	// ROLLBACK TO is a ctlRollback with toSavepoint.
	ctlSavepoint
	ctlRelease
)

type controlStmt struct {
	kind  controlKind
	chars txCharacteristics
	// For ctlSetTx: scope is "" (next transaction), "session" or "global";
	// readWrite is set by READ WRITE (readOnly false then means "write").
	scope     string
	readWrite bool
	// For SHOW WARNINGS/ERRORS: count asks for SHOW COUNT(*); limit < 0
	// means no LIMIT.
	count         bool
	offset, limit int
	// For ROLLBACK: toSavepoint. For SAVEPOINT, RELEASE SAVEPOINT and
	// ROLLBACK TO: the savepoint's name, unquoted.
	toSavepoint bool
	savepoint   string
}

// parseControl recognizes a control statement; ok is false for anything
// else (including text with comments, which the parser handles).
func parseControl(sql string) (controlStmt, bool) {
	if !controlWord(sql) {
		return controlStmt{}, false
	}
	s := strings.TrimSpace(sql)
	s = strings.TrimRight(s, "; \t\r\n")
	// XA statements are refused whatever follows (quoted xids included):
	// on a pooled tablet connection they would outlive the statement.
	if f := strings.Fields(strings.ToLower(s)); len(f) > 0 && f[0] == "xa" {
		return controlStmt{kind: ctlXA}, true
	}
	if cs, ok := parseSavepointStmt(s); ok {
		return cs, true
	}
	if s == "" || strings.ContainsAny(s, "#'\"`") || strings.Contains(s, "/*") || strings.Contains(s, "--") {
		return controlStmt{}, false
	}
	w := strings.Fields(strings.ToLower(strings.ReplaceAll(s, ",", " , ")))
	switch w[0] {
	case "begin":
		if len(w) == 1 || (len(w) == 2 && w[1] == "work") {
			return controlStmt{kind: ctlBegin}, true
		}
	case "start":
		if len(w) >= 2 && w[1] == "transaction" {
			c, ok := parseStartChars(w[2:])
			return controlStmt{kind: ctlBegin, chars: c}, ok
		}
	case "commit", "rollback":
		kind := ctlCommit
		if w[0] == "rollback" {
			kind = ctlRollback
		}
		rest := w[1:]
		if len(rest) > 0 && rest[0] == "work" {
			rest = rest[1:]
		}
		// AND NO CHAIN and NO RELEASE are the defaults; CHAIN and RELEASE
		// are not supported.
		switch strings.Join(rest, " ") {
		case "", "and no chain", "no release", "and no chain no release":
			return controlStmt{kind: kind}, true
		}
	case "set":
		rest := w[1:]
		scope := ""
		if len(rest) > 0 {
			switch rest[0] {
			case "session", "local":
				scope, rest = "session", rest[1:]
			case "global":
				scope, rest = "global", rest[1:]
			}
		}
		if len(rest) < 2 || rest[0] != "transaction" {
			return controlStmt{}, false
		}
		cs := controlStmt{kind: ctlSetTx, scope: scope}
		if !parseSetTxChars(rest[1:], &cs) {
			return controlStmt{}, false
		}
		return cs, true
	case "show":
		return parseShowWarnings(w[1:])
	}
	return controlStmt{}, false
}

// parseStartChars reads START TRANSACTION's comma-separated
// characteristics: WITH CONSISTENT SNAPSHOT, READ ONLY, READ WRITE.
func parseStartChars(w []string) (txCharacteristics, bool) {
	var c txCharacteristics
	for len(w) > 0 {
		switch {
		case len(w) >= 3 && w[0] == "with" && w[1] == "consistent" && w[2] == "snapshot":
			c.consistentSnapshot = true
			w = w[3:]
		case len(w) >= 2 && w[0] == "read" && w[1] == "only":
			c.readOnly = true
			w = w[2:]
		case len(w) >= 2 && w[0] == "read" && w[1] == "write":
			w = w[2:]
		default:
			return c, false
		}
		if len(w) > 0 {
			if w[0] != "," || len(w) == 1 {
				return c, false
			}
			w = w[1:]
		}
	}
	return c, true
}

// parseSetTxChars reads SET TRANSACTION's characteristics: ISOLATION
// LEVEL ..., READ ONLY, READ WRITE.
func parseSetTxChars(w []string, cs *controlStmt) bool {
	for len(w) > 0 {
		switch {
		case len(w) >= 3 && w[0] == "isolation" && w[1] == "level":
			w = w[2:]
			switch {
			case len(w) >= 2 && w[0] == "read" && (w[1] == "uncommitted" || w[1] == "committed"):
				cs.chars.isolation = "READ " + strings.ToUpper(w[1])
				w = w[2:]
			case len(w) >= 2 && w[0] == "repeatable" && w[1] == "read":
				cs.chars.isolation = "REPEATABLE READ"
				w = w[2:]
			case len(w) >= 1 && w[0] == "serializable":
				cs.chars.isolation = "SERIALIZABLE"
				w = w[1:]
			default:
				return false
			}
		case len(w) >= 2 && w[0] == "read" && w[1] == "only":
			cs.chars.readOnly = true
			w = w[2:]
		case len(w) >= 2 && w[0] == "read" && w[1] == "write":
			cs.readWrite = true
			w = w[2:]
		default:
			return false
		}
		if len(w) > 0 {
			if w[0] != "," || len(w) == 1 {
				return false
			}
			w = w[1:]
		}
	}
	return true
}

// parseShowWarnings reads what follows SHOW: WARNINGS or ERRORS with an
// optional LIMIT [offset,] count, or COUNT(*) WARNINGS|ERRORS.
func parseShowWarnings(w []string) (controlStmt, bool) {
	cs := controlStmt{limit: -1}
	if len(w) == 2 && (w[0] == "count(*)") {
		cs.count = true
		w = w[1:]
	}
	if len(w) == 0 {
		return controlStmt{}, false
	}
	switch w[0] {
	case "warnings":
		cs.kind = ctlShowWarnings
	case "errors":
		cs.kind = ctlShowErrors
	default:
		return controlStmt{}, false
	}
	w = w[1:]
	if cs.count {
		return cs, len(w) == 0
	}
	if len(w) == 0 {
		return cs, true
	}
	if w[0] != "limit" {
		return controlStmt{}, false
	}
	nums := w[1:]
	atoi := func(s string) (int, bool) {
		n, err := strconv.Atoi(s)
		return n, err == nil && n >= 0
	}
	switch len(nums) {
	case 1:
		n, ok := atoi(nums[0])
		cs.limit = n
		return cs, ok
	case 3:
		o, ok1 := atoi(nums[0])
		n, ok2 := atoi(nums[2])
		cs.offset, cs.limit = o, n
		return cs, ok1 && ok2 && nums[1] == ","
	}
	return controlStmt{}, false
}

// controlWord reports whether sql starts with a word parseControl takes,
// so that every other statement skips its work.
func controlWord(sql string) bool {
	s := strings.TrimLeft(sql, " \t\r\n")
	end := 0
	for end < len(s) && (s[end] >= 'a' && s[end] <= 'z' || s[end] >= 'A' && s[end] <= 'Z') {
		end++
	}
	switch w := s[:end]; {
	case strings.EqualFold(w, "begin"), strings.EqualFold(w, "start"), strings.EqualFold(w, "commit"),
		strings.EqualFold(w, "rollback"), strings.EqualFold(w, "set"), strings.EqualFold(w, "show"),
		strings.EqualFold(w, "xa"), strings.EqualFold(w, "savepoint"), strings.EqualFold(w, "release"):
		return true
	}
	return false
}
