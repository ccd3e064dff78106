package proxy

import (
	"strings"

	"github.com/mosaicdb/mosaic/sqltext"
)

// Stored programs and MariaDB's compound statements hold semicolons of
// their own: `CREATE PROCEDURE p() BEGIN INSERT ...; SELECT ...; END` is
// one statement. A client sends it as one (the mariadb client after
// DELIMITER), or inside a batch of statements (a migration file sent with
// multi-statements). splitStatements asks compoundEnd where such a
// statement ends: at the first semicolon outside every BEGIN ... END,
// IF ... END IF, CASE ... END [CASE], LOOP, WHILE, REPEAT and FOR block.

// sqlToken is a word (upper-cased), a quoted string or name (its
// opening quote), or one punctuation character.
type sqlToken struct {
	text string
	end  int // index just past the token
}

// nextToken returns the token at or after i, skipping blanks and comments
// (the text of an executable comment, /*! ... */, is read as SQL, as
// mysqld reads it); ok is false at the end of s.
func nextToken(s string, i int) (sqlToken, bool) {
	for {
		t, ok := sqltext.Next(s, i)
		if !ok {
			return sqlToken{}, false
		}
		switch t.Kind {
		case sqltext.Comment:
			i = t.End
			if text := t.Text(s); strings.HasPrefix(text, "/*!") || strings.HasPrefix(text, "/*M!") {
				i = t.Start + strings.IndexByte(text, '!') + 1
				for i < len(s) && s[i] >= '0' && s[i] <= '9' {
					i++
				}
			}
			continue
		case sqltext.Word:
			return sqlToken{text: strings.ToUpper(t.Text(s)), end: t.End}, true
		case sqltext.Quoted:
			return sqlToken{text: s[t.Start : t.Start+1], end: t.End}, true
		}
		// (An executable comment's closing */ comes as two punctuation
		// tokens, which nothing here looks for.)
		return sqlToken{text: t.Text(s), end: t.End}, true
	}
}

// startsCompound reports whether the statement starting at i is a stored
// program definition (CREATE [OR REPLACE] [DEFINER = ...] [AGGREGATE]
// PROCEDURE | FUNCTION | TRIGGER | EVENT | PACKAGE) or a compound
// statement (BEGIN NOT ATOMIC, IF, CASE, LOOP, WHILE, REPEAT, FOR, a
// label).
func startsCompound(s string, i int) bool {
	t, ok := nextToken(s, i)
	if !ok {
		return false
	}
	switch t.text {
	case "CREATE":
		// Skip what may stand between CREATE and the object's kind: OR
		// REPLACE, DEFINER = user@host, AGGREGATE, SQL SECURITY ...
		pos := t.end
		for n := 0; n < 16; n++ {
			t, ok = nextToken(s, pos)
			if !ok {
				return false
			}
			switch t.text {
			case "PROCEDURE", "FUNCTION", "TRIGGER", "EVENT", "PACKAGE":
				return true
			case "TABLE", "VIEW", "INDEX", "UNIQUE", "FULLTEXT", "SPATIAL", "DATABASE", "SCHEMA", "USER",
				"ROLE", "SEQUENCE", "SERVER", "TABLESPACE", "TEMPORARY", "ALGORITHM", "LOGFILE", "(", ";":
				return false
			}
			pos = t.end
		}
		return false
	case "BEGIN":
		next, ok := nextToken(s, t.end)
		return ok && next.text == "NOT"
	case "IF", "CASE", "LOOP", "WHILE", "REPEAT", "FOR":
		return blockOpens(s, t)
	}
	// A label: `name: LOOP ...`.
	if sqltext.IsWordByte(t.text[0]) {
		if next, ok := nextToken(s, t.end); ok && next.text == ":" {
			return true
		}
	}
	return false
}

// blockOpens says whether IF, CASE, LOOP, WHILE, REPEAT or FOR at a
// statement's start opens a block. IF followed by a parenthesized group
// and then by what ends an expression is the IF() function (`ELSE IF(a,
// b, c) END`), not an IF statement, whose condition goes on to THEN (`IF
// (a > b) THEN`, `IF (a) AND b THEN`).
func blockOpens(s string, t sqlToken) bool {
	if t.text != "IF" {
		return true
	}
	next, ok := nextToken(s, t.end)
	if !ok {
		return false
	}
	if next.text != "(" {
		return true
	}
	depth, pos := 0, t.end
	for {
		tok, ok := nextToken(s, pos)
		if !ok {
			return false
		}
		pos = tok.end
		switch tok.text {
		case "(":
			depth++
		case ")":
			depth--
		}
		if depth == 0 {
			break
		}
	}
	after, ok := nextToken(s, pos)
	if !ok {
		return false
	}
	switch after.text {
	case "END", "ELSE", "WHEN", ",", ")", ";", "FROM", "AS":
		return false
	}
	return true
}

// compoundEnd returns the index of the semicolon ending the compound
// statement that starts at i (see startsCompound), or len(s).
func compoundEnd(s string, i int) int {
	depth := 0
	stmtStart := true // the next token starts a statement
	pos := i
	for {
		t, ok := nextToken(s, pos)
		if !ok {
			return len(s)
		}
		pos = t.end
		wasStart := stmtStart
		stmtStart = false
		switch t.text {
		case ";":
			if depth <= 0 {
				return t.end - 1
			}
			stmtStart = true
		case "BEGIN":
			depth++
			stmtStart = true
		case "CASE":
			depth++
		case "IF", "WHILE", "FOR":
			if wasStart && blockOpens(s, t) {
				depth++
			}
		case "LOOP", "REPEAT":
			if wasStart {
				depth++
				stmtStart = true // its body starts right away
			}
		case "END":
			if depth > 0 {
				depth--
			}
			// END IF, END CASE, END LOOP, ... name the block they close.
			if next, ok := nextToken(s, pos); ok {
				switch next.text {
				case "IF", "CASE", "LOOP", "WHILE", "REPEAT", "FOR":
					pos = next.end
				}
			}
		case "THEN", "ELSE", "DO", ":":
			stmtStart = true
		}
	}
}
