package proxy

import (
	"strings"

	"github.com/mosaicdb/mosaic/sqlerr"
	"github.com/mosaicdb/mosaic/sqltext"
)

// Stored programs and views created through the gate run with the rights
// of whoever calls them (SQL SECURITY INVOKER), never with their
// definer's. Every gate account reaches mysqld as one of the tablets' two
// accounts, the read-write mosaic_app or the read-only mosaic_ro (see
// docs/security.md); a routine or view of definer rights, whose definer is
// mosaic_app, would let a read-only account write through it (SELECT f()
// where f inserts, a view over such a function). With invoker rights a
// read-only account's statement stays read-only inside every routine, and
// for a read-write account nothing changes: its statements run as
// mosaic_app either way.
//
// invokerRights rewrites the statement's text as it goes to the shards:
//
//   - CREATE [OR REPLACE] ... VIEW, ALTER ... VIEW: SQL SECURITY DEFINER
//     becomes INVOKER, and without a SQL SECURITY clause one is added;
//   - CREATE PROCEDURE and CREATE FUNCTION: likewise among the routine's
//     characteristics (the clause goes right before the body);
//   - ALTER PROCEDURE and ALTER FUNCTION: SQL SECURITY DEFINER becomes
//     INVOKER;
//   - the DEFINER = ... clause of these and of CREATE TRIGGER and CREATE
//     EVENT is removed: a gate account is no mysqld account, and the
//     definer is then the tablet's application account, the only one
//     whose rights a trigger or event can have (a dump restored through
//     the gate works whoever defined its objects);
//   - CREATE PACKAGE (sql_mode=ORACLE) is refused.
//
// Other statements come back as they are. A definition whose body cannot
// be found is refused (1235) rather than created with definer rights.

// rtok is a token of a statement, words upper-cased; inside executable
// comments (/*! ... */) the text is read as SQL, as mysqld reads it.
type rtok struct {
	text       string
	start, end int
	quoted     bool
}

// rtokens returns the statement's tokens (at most max), skipping plain
// comments and entering executable ones.
func rtokens(s string, max int) []rtok {
	var out []rtok
	execEnd := -1 // end of the executable comment being read
	for i := 0; len(out) < max; {
		t, ok := sqltext.Next(s, i)
		if !ok {
			break
		}
		if t.Start == execEnd-2 && t.Kind == sqltext.Punct {
			// The */ closing an executable comment.
			i, execEnd = execEnd, -1
			continue
		}
		switch t.Kind {
		case sqltext.Comment:
			i = t.End
			if text := t.Text(s); strings.HasPrefix(text, "/*!") || strings.HasPrefix(text, "/*M!") {
				execEnd = t.End
				i = t.Start + strings.IndexByte(text, '!') + 1
				for i < len(s) && s[i] >= '0' && s[i] <= '9' {
					i++
				}
			}
			continue
		case sqltext.Word:
			out = append(out, rtok{text: strings.ToUpper(t.Text(s)), start: t.Start, end: t.End})
		case sqltext.Quoted:
			out = append(out, rtok{text: t.Text(s), start: t.Start, end: t.End, quoted: true})
		default:
			out = append(out, rtok{text: t.Text(s), start: t.Start, end: t.End})
		}
		i = t.End
	}
	return out
}

// edit is a change of a statement's text: [start, end) becomes repl.
type edit struct {
	start, end int
	repl       string
}

func applyEdits(s string, edits []edit) string {
	if len(edits) == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 32)
	at := 0
	for _, e := range edits {
		b.WriteString(s[at:e.start])
		b.WriteString(e.repl)
		at = e.end
	}
	b.WriteString(s[at:])
	return b.String()
}

// invokerRights returns sql with the changes the comment above lists.
func invokerRights(sql string) (string, error) {
	// Most statements show at once that they are neither CREATE nor
	// ALTER: their first byte, after blanks, is another letter.
	i := 0
	for i < len(sql) && sqltext.IsSpace(sql[i]) {
		i++
	}
	if i < len(sql) {
		switch c := sql[i] | 0x20; {
		case c == 'c' || c == 'a':
		case 'a' <= c && c <= 'z':
			return sql, nil
		}
	}
	first, ok := firstWordOf(sql)
	if !ok || (first != "CREATE" && first != "ALTER") {
		return sql, nil
	}
	// A definition's head and a function's characteristics are short;
	// a body is read only as far as its first token.
	toks := rtokens(sql, 4096)
	if len(toks) < 2 {
		return sql, nil
	}
	var edits []edit
	var security *rtok // the DEFINER or INVOKER of a SQL SECURITY clause
	i = 1
	kind := ""
head:
	for ; i < len(toks); i++ {
		switch t := toks[i]; t.text {
		case "OR", "REPLACE", "AGGREGATE", "ONLINE", "OFFLINE", "IGNORE":
		case "ALGORITHM":
			i += 2 // = value
		case "DEFINER":
			end := definerEnd(toks, i)
			if end < 0 {
				return sql, nil
			}
			edits = append(edits, edit{t.start, toks[end].end, ""})
			i = end
		case "SQL":
			if i+2 < len(toks) && toks[i+1].text == "SECURITY" {
				security = &toks[i+2]
				i += 2
				continue
			}
			return sql, nil
		case "VIEW", "PROCEDURE", "FUNCTION", "TRIGGER", "EVENT", "PACKAGE":
			kind = t.text
			break head
		default:
			return sql, nil
		}
	}
	switch kind {
	case "":
		return sql, nil
	case "PACKAGE":
		return "", sqlerr.NotSupported("CREATE PACKAGE through the gate (its routines would run with their definer's rights)")
	case "VIEW":
		edits = append(edits, invokerEdit(security, toks[i].start)...)
	case "PROCEDURE", "FUNCTION":
		if first == "ALTER" {
			// ALTER PROCEDURE p characteristic ...: only a SQL SECURITY
			// DEFINER changes anything.
			if s := findSecurity(toks[i+1:]); s != nil && s.text == "DEFINER" {
				edits = append(edits, edit{s.start, s.end, "INVOKER"})
			}
			break
		}
		body, chars, err := routineBody(toks, i, kind == "FUNCTION")
		if err != nil {
			return "", err
		}
		if security == nil {
			security = findSecurity(chars)
		}
		edits = append(edits, invokerEdit(security, body)...)
	}
	return applyEdits(sql, edits), nil
}

// invokerEdit makes a SQL SECURITY clause say INVOKER, or adds one at pos.
func invokerEdit(security *rtok, pos int) []edit {
	switch {
	case security == nil:
		return []edit{{pos, pos, "SQL SECURITY INVOKER "}}
	case security.text == "DEFINER":
		return []edit{{security.start, security.end, "INVOKER"}}
	}
	return nil
}

// findSecurity returns the value of the first SQL SECURITY clause of toks.
func findSecurity(toks []rtok) *rtok {
	for j := 0; j+2 < len(toks); j++ {
		if toks[j].text == "SQL" && toks[j+1].text == "SECURITY" {
			return &toks[j+2]
		}
	}
	return nil
}

// definerEnd returns the index of the last token of the DEFINER clause
// starting at i (DEFINER = user[@host] | CURRENT_USER[()] | role), or -1.
func definerEnd(toks []rtok, i int) int {
	j := i + 1
	if j >= len(toks) || toks[j].text != "=" {
		return -1
	}
	j++
	if j >= len(toks) {
		return -1
	}
	if toks[j].text == "CURRENT_USER" || toks[j].text == "CURRENT_ROLE" {
		if j+2 < len(toks) && toks[j+1].text == "(" && toks[j+2].text == ")" {
			return j + 2
		}
		return j
	}
	if j+2 < len(toks) && toks[j+1].text == "@" {
		return j + 2
	}
	return j
}

// routineCharacteristic says how many tokens the characteristic starting
// at toks[0] takes (0: none starts there).
func routineCharacteristic(toks []rtok) int {
	word := func(k int) string {
		if k < len(toks) {
			return toks[k].text
		}
		return ""
	}
	switch word(0) {
	case "COMMENT":
		return 2
	case "LANGUAGE":
		return 2
	case "DETERMINISTIC":
		return 1
	case "NOT":
		if word(1) == "DETERMINISTIC" {
			return 2
		}
	case "CONTAINS", "NO":
		if word(1) == "SQL" {
			return 2
		}
	case "READS", "MODIFIES":
		if word(1) == "SQL" && word(2) == "DATA" {
			return 3
		}
	case "SQL":
		if word(1) == "SECURITY" {
			return 3
		}
	}
	return 0
}

// bodyStarts are the words that can begin a function's body.
var bodyStarts = map[string]bool{"BEGIN": true, "RETURN": true, "IF": true, "CASE": true, "LOOP": true, "WHILE": true, "REPEAT": true, "FOR": true}

// routineBody finds where the body of the routine whose kind word is
// toks[kindAt] starts, and the tokens of its characteristics.
func routineBody(toks []rtok, kindAt int, function bool) (body int, chars []rtok, err error) {
	refuse := sqlerr.NotSupported("this stored routine definition (the gate cannot find its body to make it SQL SECURITY INVOKER)")
	j := kindAt + 1
	if j+2 < len(toks) && toks[j].text == "IF" && toks[j+1].text == "NOT" && toks[j+2].text == "EXISTS" {
		j += 3
	}
	// The name, maybe qualified, then the parameter list.
	for j < len(toks) && toks[j].text != "(" {
		j++
	}
	depth := 0
	for ; j < len(toks); j++ {
		switch toks[j].text {
		case "(":
			depth++
		case ")":
			depth--
		}
		if depth == 0 {
			break
		}
	}
	j++
	if j >= len(toks) {
		return 0, nil, refuse
	}
	if !function {
		// A procedure's characteristics follow its parameters; its body
		// is the first statement after them.
		start := j
		for j < len(toks) {
			n := routineCharacteristic(toks[j:])
			if n == 0 {
				break
			}
			j += n
		}
		if j >= len(toks) {
			return 0, nil, refuse
		}
		return toks[j].start, toks[start:j], nil
	}
	// A function: RETURNS type, characteristics, then a body that begins
	// with one of bodyStarts or a label.
	if toks[j].text != "RETURNS" {
		return 0, nil, refuse
	}
	start := j
	depth = 0
	for ; j < len(toks); j++ {
		t := toks[j]
		switch t.text {
		case "(":
			depth++
			continue
		case ")":
			depth--
			continue
		}
		if depth != 0 || t.quoted {
			continue
		}
		if bodyStarts[t.text] || (j+1 < len(toks) && toks[j+1].text == ":" && sqltext.IsWordByte(t.text[0])) {
			return t.start, toks[start:j], nil
		}
	}
	return 0, nil, refuse
}

// firstWordOf returns the statement's first word, upper-cased, skipping
// comments and reading executable ones.
func firstWordOf(sql string) (string, bool) {
	t, ok := nextToken(sql, 0)
	if !ok || t.text == "" || !sqltext.IsWordByte(t.text[0]) {
		return "", false
	}
	return t.text, true
}
