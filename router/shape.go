package router

import (
	"strconv"
	"strings"
)

// A statement's shape is its text with every simple literal replaced by
// a marker byte: "SELECT c FROM t WHERE id = 5" and "... id = 7" share
// one. Finding the shape takes one pass over the text, far less than
// parsing it, so the router keeps a cache by shape in front of the
// parser: a hit binds the literals straight to the cached plan's bind
// variables. An entry is made only when the shape's literals map one to
// one onto the bind variables the normalizer made for a statement of
// that shape (see matchLiterals): everything that decides how a literal
// is normalized (its place in the statement, its kind) is the same for
// every statement of the shape.

// shapeMarker stands for a literal in a shape; text holding it has no
// shape.
const shapeMarker = '\x01'

// literal is a literal of a statement's shape: an integer, or a string.
// A struct rather than an any, so that taking a statement apart boxes
// nothing: only a plan bound to the literals needs their values as any.
type literal struct {
	str   string
	num   int64
	isNum bool
}

func (l literal) value() any {
	if l.isNum {
		return l.num
	}
	return l.str
}

// shapeOf splits sql into its shape and its literals in order: int64 for
// a decimal integer that fits in one, string for a quoted string without
// backslashes or doubled quotes. Comments, quoted identifiers and every
// other token are kept as they are. ok is false when the text has no
// literal, or holds what this scan does not take apart safely: ?
// markers, escapes in strings, integers past int64, unterminated strings
// or comments, or the marker byte itself.
func shapeOf(sql string) (shape string, lits []any, ok bool) {
	b, ls, ok := appendShape(nil, sql, nil)
	if !ok {
		return "", nil, false
	}
	return string(b), literalValues(ls), true
}

func literalValues(ls []literal) []any {
	out := make([]any, len(ls))
	for i, l := range ls {
		out[i] = l.value()
	}
	return out
}

// appendShape is shapeOf appending the shape to dst and the literals to
// lits, so that the router can look the shape up without allocating
// (Router.Plan passes buffers on its stack). On !ok, dst holds garbage
// past its original length.
func appendShape(dst []byte, sql string, lits []literal) ([]byte, []literal, bool) {
	n := len(sql)
	found := false
	for i := 0; i < n; {
		c := sql[i]
		switch {
		case c == shapeMarker || c == '?':
			return dst, nil, false
		case c == '\'' || c == '"':
			j := i + 1
			for j < n && sql[j] != c {
				if sql[j] == '\\' {
					return dst, nil, false
				}
				j++
			}
			if j >= n || (j+1 < n && sql[j+1] == c) {
				// Unterminated, or a doubled quote: an escape.
				return dst, nil, false
			}
			lits = append(lits, literal{str: sql[i+1 : j]})
			found = true
			dst = append(dst, shapeMarker)
			i = j + 1
		case c == '`':
			j := i + 1
			for j < n && sql[j] != '`' {
				j++
			}
			if j >= n || (j+1 < n && sql[j+1] == '`') {
				return dst, nil, false
			}
			dst = append(dst, sql[i:j+1]...)
			i = j + 1
		case c == '/' && i+1 < n && sql[i+1] == '*':
			end := strings.Index(sql[i+2:], "*/")
			if end < 0 {
				return dst, nil, false
			}
			dst = append(dst, sql[i:i+2+end+2]...)
			i += 2 + end + 2
		case c == '#' || (c == '-' && i+2 < n && sql[i+1] == '-' && (sql[i+2] == ' ' || sql[i+2] == '\t')):
			end := strings.IndexByte(sql[i:], '\n')
			if end < 0 {
				end = n - i
			}
			dst = append(dst, sql[i:i+end]...)
			i += end
		case isIdentByte(c) || c == '@' || c == '.':
			// A word (keyword, identifier, variable, or a number glued to
			// one, such as 1e5, 0x1f or 1abc): kept whole.
			j := i + 1
			for j < n && (isIdentByte(sql[j]) || sql[j] == '.' || sql[j] == '@') {
				j++
			}
			word := sql[i:j]
			if isDigits(word) {
				v, err := strconv.ParseInt(word, 10, 64)
				if err != nil {
					return dst, nil, false
				}
				lits = append(lits, literal{num: v, isNum: true})
				found = true
				dst = append(dst, shapeMarker)
			} else {
				dst = append(dst, word...)
			}
			i = j
		default:
			dst = append(dst, c)
			i++
		}
	}
	return dst, lits, found
}

func isIdentByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '$' || c >= 0x80
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) > 0
}

// matchLiterals returns, for each literal of a statement's shape, the
// bind variable the normalizer made of it, and false unless that is a
// one-to-one map that can only be read one way: as many bind variables as
// literals, every literal's value found in exactly one, all values
// distinct, and no integer zero (-0 is 0: a literal under a unary minus,
// which the normalizer binds negated, would pass for a plain one).
func matchLiterals(lits []any, bv BindVars) ([]string, bool) {
	if len(lits) == 0 || len(lits) != len(bv) {
		return nil, false
	}
	// Each bind variable's value, by value: one pass over bv instead of
	// one per literal (a bulk INSERT has tens of thousands).
	type holder struct {
		name string
		n    int
	}
	byValue := make(map[literal]*holder, len(bv))
	for name, v := range bv {
		var key literal
		switch x := v.(type) {
		case int64:
			key = literal{num: x, isNum: true}
		case string:
			key = literal{str: x}
		default:
			continue
		}
		if h := byValue[key]; h != nil {
			h.n++
		} else {
			byValue[key] = &holder{name: name, n: 1}
		}
	}
	names := make([]string, len(lits))
	used := make(map[string]bool, len(lits))
	for i, l := range lits {
		var key literal
		switch x := l.(type) {
		case int64:
			if x == 0 {
				return nil, false
			}
			key = literal{num: x, isNum: true}
		case string:
			key = literal{str: x}
		default:
			return nil, false
		}
		h := byValue[key]
		if h == nil || h.n != 1 || used[h.name] {
			return nil, false
		}
		used[h.name] = true
		names[i] = h.name
	}
	return names, true
}

// shapeEntry is a cached plan and the bind variable of each literal of
// its shape; or, for a statement an unsharded keyspace gets exactly as the
// client wrote it (passthrough.go), the plan to copy for each statement of
// the shape with that statement's own text.
type shapeEntry struct {
	plan  *Plan
	names []string
	// passthrough is the keyspace of a passthrough shape, nil otherwise.
	passthrough *Keyspace
}

// passthroughKeyspace returns the keyspace of a plan that sends the
// client's text unchanged to an unsharded keyspace, nil for other plans.
func passthroughKeyspace(p *Plan) *Keyspace {
	r, ok := p.Primitive.(*Route)
	if !ok || p.Type != "Passthrough" || r.Opcode != Unsharded || !normalizable(p.Stmt) {
		return nil
	}
	return r.Keyspace
}

// newPassthroughShape makes the entry of a passthrough shape. Its plans
// share one PlanStats, which reports the shape with ? for each literal.
func newPassthroughShape(p *Plan, ks *Keyspace, shape string) *shapeEntry {
	cp := *p
	cp.Stats = &PlanStats{query: strings.ReplaceAll(shape, string(shapeMarker), "?")}
	return &shapeEntry{plan: &cp, passthrough: ks}
}

// passthroughPlan returns the plan of a passthrough shape for sql.
func (e *shapeEntry) passthroughPlan(sql string) *Plan {
	// One allocation for the plan, its route and its template: this runs
	// for every statement of the shape.
	pp := &passthroughParts{plan: *e.plan}
	pp.seg[0] = segment{text: sql}
	pp.tmpl = sqlTemplate{segs: pp.seg[:], display: sql, size: len(sql) + 8}
	pp.route = Route{Opcode: Unsharded, Keyspace: e.passthrough, Query: &pp.tmpl}
	pp.plan.Primitive = &pp.route
	return &pp.plan
}

// passthroughParts holds what a passthrough plan is made of.
type passthroughParts struct {
	plan  Plan
	route Route
	tmpl  sqlTemplate
	seg   [1]segment
}

func (e *shapeEntry) bind(lits []literal) BindVars {
	bv := make(BindVars, len(e.names))
	for i, n := range e.names {
		bv[n] = lits[i].value()
	}
	return bv
}
