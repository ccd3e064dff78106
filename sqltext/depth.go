package sqltext

import "strings"

// A parser's memory and stack grow with how deeply a statement nests:
// TiDB's parser took about 490 MB for 1 MB of nested parentheses, and a
// deep enough expression overflows a goroutine's stack, which no recover
// catches. Measure looks at the text first, in one pass that allocates
// nothing, so that the caller can refuse such a statement before parsing.

// DepthLimits are the deepest nesting a statement may have.
type DepthLimits struct {
	// Parens bounds open parentheses.
	Parens int
	// Selects bounds nested SELECTs: the statement's own and every
	// parenthesized one around a point (a subquery, a derived table).
	Selects int
	// Expr bounds an estimate of the syntax tree's depth: each open
	// parenthesis, plus, within each, the operators since its last comma
	// (a chain such as a=1 OR a=2 OR ... nests one deeper per operator;
	// the items of a list do not).
	Expr int
}

// Exceeded says which limit a statement went past.
type Exceeded int

const (
	// WithinLimits is a statement within every limit.
	WithinLimits Exceeded = iota
	// TooManyParens is a statement past DepthLimits.Parens.
	TooManyParens
	// TooManySelects is a statement past DepthLimits.Selects.
	TooManySelects
	// TooDeep is a statement past DepthLimits.Expr.
	TooDeep
)

// Measurement is what Measure found.
type Measurement struct {
	// Tokens counts the statement's tokens other than comments: what a
	// parser's work and memory grow with.
	Tokens int
	// Exceeded is the first limit the statement went past, and At the
	// offset of the token that did; the scan stops there (Tokens then
	// counts the tokens before it).
	Exceeded Exceeded
	At       int
}

// Measure scans sql, skipping strings, quoted names and comments (but
// not the SQL in executable comments, /*! ... */ and /*M! ... */, which a
// parser reads), and returns its token count or the first limit it goes
// past. A limit of 0 or less is no limit.
func Measure(sql string, lim DepthLimits) Measurement {
	type frame struct {
		ops       int  // operators in the current comma-separated item
		hasSelect bool // a SELECT directly inside
	}
	var (
		m       Measurement
		frames  = make([]frame, 1, 16) // frames[0] is outside any parenthesis
		selects int                    // nested SELECTs around this point
		expr    int                    // depth estimate: open parentheses + the ops of each frame
		inExec  bool                   // inside an executable comment
	)
	exceeded := func(e Exceeded, at int) Measurement {
		m.Exceeded, m.At = e, at
		return m
	}
	for i := 0; ; {
		t, ok := Next(sql, i)
		if !ok {
			return m
		}
		i = t.End
		if t.Kind == Comment {
			if body, ok := executableBody(sql, t); ok {
				i, inExec = body, true
			}
			continue
		}
		f := &frames[len(frames)-1]
		switch t.Kind {
		case Punct:
			switch c := sql[t.Start]; c {
			case '(':
				frames = append(frames, frame{})
				expr++
				if lim.Parens > 0 && len(frames)-1 > lim.Parens {
					return exceeded(TooManyParens, t.Start)
				}
			case ')':
				if len(frames) == 1 {
					break // unbalanced: the parser says so
				}
				expr -= f.ops + 1
				if f.hasSelect {
					selects--
				}
				frames = frames[:len(frames)-1]
			case ',':
				expr -= f.ops
				f.ops = 0
			case '*':
				if inExec && t.End < len(sql) && sql[t.End] == '/' {
					// The end of the executable comment.
					i, inExec = t.End+1, false
					continue
				}
				f.ops++
				expr++
			case '+', '-', '/', '%', '^', '~', '!', '&', '|', '<', '>', '=':
				f.ops++
				expr++
			}
		case Word:
			w := sql[t.Start:t.End]
			switch {
			case len(w) == 6 && strings.EqualFold(w, "select"):
				if !f.hasSelect {
					f.hasSelect = true
					selects++
				}
				if lim.Selects > 0 && selects > lim.Selects {
					return exceeded(TooManySelects, t.Start)
				}
			case len(w) <= 3 && (strings.EqualFold(w, "and") || strings.EqualFold(w, "or") ||
				strings.EqualFold(w, "xor") || strings.EqualFold(w, "not")):
				f.ops++
				expr++
			}
		}
		m.Tokens++
		if lim.Expr > 0 && expr > lim.Expr {
			return exceeded(TooDeep, t.Start)
		}
	}
}

// executableBody says whether the comment t is an executable one (/*!,
// /*M!, with an optional version number) and where its SQL starts.
func executableBody(sql string, t Token) (int, bool) {
	c := sql[t.Start:t.End]
	var j int
	switch {
	case strings.HasPrefix(c, "/*!"):
		j = 3
	case strings.HasPrefix(c, "/*M!"):
		j = 4
	default:
		return 0, false
	}
	for j < len(c) && c[j] >= '0' && c[j] <= '9' {
		j++
	}
	return t.Start + j, true
}
