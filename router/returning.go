package router

import (
	"strings"

	"github.com/mosaicdb/mosaic/sqlerr"
)

// MariaDB's INSERT ... RETURNING, REPLACE ... RETURNING and DELETE ...
// RETURNING end with a select list the TiDB parser does not know. The
// router splits that clause off the text (RETURNING is a reserved word
// and the statement's last clause), plans the rest as usual, and appends
// the clause's text to the statement each shard gets: every shard returns
// the rows it wrote or deleted, in the same columns.

// returningClause is the trailing RETURNING clause of a statement.
type returningClause struct {
	// text is the select list after the RETURNING keyword, as written.
	text string
	// params counts the ? markers in it.
	params int
	// subquery is set when it holds a SELECT (a subquery).
	subquery bool
}

// splitReturning splits the trailing top-level RETURNING clause off an
// INSERT, REPLACE or DELETE statement. ok is false (and body is sql) when
// the statement is of another kind or has no such clause. The scan
// respects quoted strings, backquoted identifiers, comments and
// parentheses, so a RETURNING inside a string, a comment or a subquery is
// not the clause.
func splitReturning(sql string) (body string, ret returningClause, ok bool) {
	toks := sqlTokens(sql)
	first := -1
	for i, t := range toks {
		if t.kind != tokComment {
			first = i
			break
		}
	}
	if first < 0 || toks[first].kind != tokWord {
		return sql, returningClause{}, false
	}
	switch strings.ToUpper(toks[first].text(sql)) {
	case "INSERT", "REPLACE", "DELETE":
	default:
		return sql, returningClause{}, false
	}
	depth := 0
	at := -1
	prev := tokenKind(-1)
	prevText := ""
	for i := first; i < len(toks); i++ {
		t := toks[i]
		switch t.kind {
		case tokComment:
			continue
		case tokPunct:
			switch t.text(sql) {
			case "(":
				depth++
			case ")":
				depth--
			}
		case tokWord:
			// After a dot a reserved word names a column or table.
			if depth == 0 && !(prev == tokPunct && prevText == ".") && strings.EqualFold(t.text(sql), "RETURNING") {
				at = i
			}
		}
		if at >= 0 {
			break
		}
		prev, prevText = t.kind, t.text(sql)
	}
	if at < 0 {
		return sql, returningClause{}, false
	}
	ret.text = strings.TrimSpace(sql[toks[at].end:])
	for ret.text != "" && strings.HasSuffix(ret.text, ";") {
		ret.text = strings.TrimSpace(strings.TrimSuffix(ret.text, ";"))
	}
	for _, t := range toks[at+1:] {
		switch {
		case t.kind == tokPunct && t.text(sql) == "?":
			ret.params++
		case t.kind == tokWord && strings.EqualFold(t.text(sql), "SELECT"):
			ret.subquery = true
		}
	}
	return strings.TrimRightFunc(sql[:toks[at].start], isSpace), ret, true
}

// check refuses RETURNING clauses the gate cannot send to the shards of
// ks as written.
func (rc returningClause) check(ks *Keyspace) error {
	if rc.text == "" {
		return sqlerr.New(sqlerr.ERParseError, "You have an error in your SQL syntax: RETURNING needs a select list")
	}
	if rc.params > 0 {
		return sqlerr.NotSupported("? parameters in a RETURNING clause")
	}
	if rc.subquery && ks.Sharded {
		return sqlerr.NotSupported("subqueries in a RETURNING clause on sharded keyspace %s", ks.Name)
	}
	return nil
}

// withReturning appends the RETURNING clause to the statements prim sends
// to the shards.
func (p *planner) withReturning(prim Primitive, rc returningClause) (Primitive, error) {
	switch x := prim.(type) {
	case *Insert:
		if err := rc.check(x.Keyspace); err != nil {
			return nil, err
		}
		out := *x
		out.Query = x.Query.appendText(" RETURNING " + rc.text)
		out.Returning = true
		return &out, nil
	case *Route:
		if err := rc.check(x.Keyspace); err != nil {
			return nil, err
		}
		out := *x
		out.Query = x.Query.appendText(" RETURNING " + rc.text)
		return &out, nil
	}
	return nil, sqlerr.NotSupported("RETURNING with this statement (its plan is %s)", planType(prim))
}

// appendText returns a copy of t with text added at its end.
func (t *sqlTemplate) appendText(text string) *sqlTemplate {
	segs := make([]segment, len(t.segs), len(t.segs)+1)
	copy(segs, t.segs)
	segs = append(segs, segment{text: text})
	return templateOf(segs, t.display+text)
}

// tokenKind classifies the tokens sqlTokens finds.
type tokenKind int

const (
	tokWord    tokenKind = iota // keyword, identifier or number
	tokQuoted                   // '...', "..." or `...`
	tokComment                  // -- ..., # ... or /* ... */
	tokPunct                    // any other single byte
)

type sqlToken struct {
	kind       tokenKind
	start, end int
}

func (t sqlToken) text(sql string) string { return sql[t.start:t.end] }

func isSpace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\f' || r == '\v'
}

func isWordByte(c byte) bool {
	return c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// sqlTokens splits MariaDB SQL into tokens, skipping white space. An
// unterminated string or comment runs to the end of the text.
func sqlTokens(sql string) []sqlToken {
	var out []sqlToken
	n := len(sql)
	for i := 0; i < n; {
		c := sql[i]
		start := i
		switch {
		case isSpace(rune(c)):
			i++
			continue
		case c == '\'' || c == '"' || c == '`':
			i++
			for i < n {
				if sql[i] == '\\' && c != '`' {
					i += 2
					continue
				}
				if sql[i] == c {
					if i+1 < n && sql[i+1] == c {
						i += 2 // a doubled quote stands for itself
						continue
					}
					i++
					break
				}
				i++
			}
			out = append(out, sqlToken{tokQuoted, start, min(i, n)})
			continue
		case c == '#' || c == '-' && i+2 < n && sql[i+1] == '-' && (isSpace(rune(sql[i+2])) || sql[i+2] < ' ') ||
			c == '-' && i+2 == n && sql[i+1] == '-':
			for i < n && sql[i] != '\n' {
				i++
			}
			out = append(out, sqlToken{tokComment, start, i})
			continue
		case c == '/' && i+1 < n && sql[i+1] == '*':
			end := strings.Index(sql[i+2:], "*/")
			if end < 0 {
				i = n
			} else {
				i += 2 + end + 2
			}
			out = append(out, sqlToken{tokComment, start, i})
			continue
		case isWordByte(c):
			for i < n && isWordByte(sql[i]) {
				i++
			}
			out = append(out, sqlToken{tokWord, start, i})
			continue
		}
		i++
		out = append(out, sqlToken{tokPunct, start, i})
	}
	return out
}
