package router

import (
	"github.com/mosaicdb/mosaic/sqltext"
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
// not the clause. The text is read as a connection in mode reads it.
func splitReturning(sql string, mode ParseMode) (body string, ret returningClause, ok bool) {
	lex := sql
	if mode&NoBackslashEscapes != 0 {
		lex = sqltext.WithoutBackslashEscapes(sql)
	}
	// Token by token, without a slice of them all: a bulk INSERT has
	// millions.
	t, ok := sqltext.Next(lex, sqltext.SkipSpaceAndComments(lex, 0))
	if !ok || t.Kind != sqltext.Word {
		return sql, returningClause{}, false
	}
	switch strings.ToUpper(t.Text(lex)) {
	case "INSERT", "REPLACE", "DELETE":
	default:
		return sql, returningClause{}, false
	}
	depth := 0
	var at sqltext.Token
	found := false
	prev := sqltext.Kind(-1)
	prevText := ""
	for i := t.Start; !found; {
		t, ok := sqltext.Next(lex, i)
		if !ok {
			return sql, returningClause{}, false
		}
		i = t.End
		switch t.Kind {
		case sqltext.Comment:
			continue
		case sqltext.Punct:
			switch t.Text(lex) {
			case "(":
				depth++
			case ")":
				depth--
			}
		case sqltext.Word:
			// After a dot a reserved word names a column or table.
			if depth == 0 && !(prev == sqltext.Punct && prevText == ".") && strings.EqualFold(t.Text(lex), "RETURNING") {
				at, found = t, true
			}
		}
		prev, prevText = t.Kind, t.Text(lex)
	}
	ret.text = strings.TrimSpace(sql[at.End:])
	for ret.text != "" && strings.HasSuffix(ret.text, ";") {
		ret.text = strings.TrimSpace(strings.TrimSuffix(ret.text, ";"))
	}
	for i := at.End; ; {
		t, ok := sqltext.Next(lex, i)
		if !ok {
			break
		}
		i = t.End
		switch {
		case t.Kind == sqltext.Punct && t.Text(lex) == "?":
			ret.params++
		case t.Kind == sqltext.Word && strings.EqualFold(t.Text(lex), "SELECT"):
			ret.subquery = true
		}
	}
	return strings.TrimRightFunc(sql[:at.Start], func(r rune) bool { return r < 0x80 && sqltext.IsSpace(byte(r)) }), ret, true
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
	return templateOf(segs, t.display+text, t.noBackslash)
}

// HasReturning reports whether sql ends in a top-level RETURNING clause
// (INSERT, REPLACE or DELETE ... RETURNING, which answer with rows).
func HasReturning(sql string, mode ParseMode) bool {
	_, _, ok := splitReturning(sql, mode)
	return ok
}
