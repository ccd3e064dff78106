package router

import (
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"

	"github.com/mosaicdb/mosaic/sqltext"
)

// A bulk INSERT (mariadb-dump's extended inserts, sysbench's bulk_insert,
// a driver's rewritten batch) is thousands of rows of literals. Parsing
// all of them, making a bind variable of every literal and writing the
// statement again only to learn that an unsharded keyspace takes it as
// written cost the gate more than mysqld's whole work on it. So a big
// INSERT whose rows after the first are literals only is planned from
// its first row: when that plan sends the statement as written, the
// whole statement goes that way unparsed. Anything else (a sharded
// keyspace, a sequence, an expression in a later row, anything after the
// rows) is planned whole, as before.

// planBulkInsert plans sql, a statement too big for the plan caches,
// from its first row when it is such an INSERT and goes as written.
func (r *Router) planBulkInsert(sql, keyspace string, mode ParseMode) (*Plan, bool) {
	if IsInformationSchema(keyspace) {
		return nil, false
	}
	head, ok := cutInsertRows(sql)
	if !ok {
		return nil, false
	}
	vs := r.VSchema()
	colGen := r.colGen.Load()
	stmt, err := r.Parse(head, mode)
	if err != nil {
		return nil, false
	}
	if _, ok := stmt.(*ast.InsertStmt); !ok {
		return nil, false
	}
	if lock, err := checkConnState(stmt); err != nil || lock {
		return nil, false
	}
	bv, params, sessionBinds := normalize(stmt)
	p := &planner{vs: vs, session: keyspace, seqs: &r.seqs, cols: r.cfg.Columns}
	prim, _, err := p.planStmt(stmt, head, bv)
	if err != nil {
		return nil, false
	}
	pt := p.passthrough(prim, sql, bv, params)
	if pt == nil {
		return nil, false
	}
	r.stats.misses.Add(1)
	return routePlan(p, stmt, "Passthrough", pt, sessionBinds, sql, false, colGen), true
}

// cutInsertRows returns sql up to the end of the first row of its VALUES
// list when sql is INSERT or REPLACE ... VALUES (...), (...), ... with
// nothing but an optional ';' after the rows, and every row after the
// first made of literals only (numbers, strings, NULL, TRUE, FALSE, hex
// and bit literals).
func cutInsertRows(sql string) (string, bool) {
	t, ok := sqltext.Next(sql, sqltext.SkipSpaceAndComments(sql, 0))
	if !ok || t.Kind != sqltext.Word {
		return "", false
	}
	if w := t.Text(sql); !strings.EqualFold(w, "INSERT") && !strings.EqualFold(w, "REPLACE") {
		return "", false
	}
	// Up to VALUES at the top level.
	i, depth := t.End, 0
	for {
		t, ok = sqltext.Next(sql, i)
		if !ok {
			return "", false
		}
		i = t.End
		if t.Kind == sqltext.Punct {
			switch sql[t.Start] {
			case '(':
				depth++
			case ')':
				depth--
			case ';':
				return "", false
			}
			continue
		}
		if t.Kind != sqltext.Word || depth != 0 {
			continue
		}
		w := t.Text(sql)
		if strings.EqualFold(w, "VALUES") || strings.EqualFold(w, "VALUE") {
			break
		}
		if strings.EqualFold(w, "SELECT") || strings.EqualFold(w, "SET") || strings.EqualFold(w, "TABLE") || strings.EqualFold(w, "WITH") {
			return "", false
		}
	}
	// The first row, whatever it holds.
	t, ok = sqltext.Next(sql, sqltext.SkipSpaceAndComments(sql, i))
	if !ok || t.Kind != sqltext.Punct || sql[t.Start] != '(' {
		return "", false
	}
	i, depth = t.End, 1
	for depth > 0 {
		t, ok = sqltext.Next(sql, i)
		if !ok {
			return "", false
		}
		i = t.End
		if t.Kind == sqltext.Punct {
			switch sql[t.Start] {
			case '(':
				depth++
			case ')':
				depth--
			}
		}
	}
	head := sql[:i]
	// The other rows: literals only, and nothing after them.
	for {
		i = skipSpace(sql, i)
		if i == len(sql) {
			return head, true
		}
		switch sql[i] {
		case ';':
			if skipSpace(sql, i+1) != len(sql) {
				return "", false
			}
			return head, true
		case ',':
			i = skipSpace(sql, i+1)
			if i == len(sql) || sql[i] != '(' {
				return "", false
			}
			if i, ok = literalRowEnd(sql, i); !ok {
				return "", false
			}
		default:
			return "", false
		}
	}
}

func skipSpace(sql string, i int) int {
	for i < len(sql) && sqltext.IsSpace(sql[i]) {
		i++
	}
	return i
}

// literalRowEnd returns the index past the row of literals whose '(' is
// at i.
func literalRowEnd(sql string, i int) (int, bool) {
	for i++; ; i++ {
		i = skipSpace(sql, i)
		end, ok := literalEnd(sql, i)
		if !ok {
			return 0, false
		}
		i = skipSpace(sql, end)
		if i == len(sql) {
			return 0, false
		}
		switch sql[i] {
		case ',':
		case ')':
			return i + 1, true
		default:
			return 0, false
		}
	}
}

// literalEnd returns the index past the literal at i: a number with an
// optional sign, a quoted string, NULL, TRUE, FALSE, 0x..., X'...' or
// B'...'.
func literalEnd(sql string, i int) (int, bool) {
	n := len(sql)
	if i >= n {
		return 0, false
	}
	switch c := sql[i]; {
	case c == '\'' || c == '"':
		return quotedLiteralEnd(sql, i)
	case c == '-' || c == '+':
		j := skipSpace(sql, i+1)
		if j < n && (isDigit(sql[j]) || sql[j] == '.') {
			return numberEnd(sql, j)
		}
		return 0, false
	case isDigit(c) || c == '.':
		return numberEnd(sql, i)
	case sqltext.IsWordByte(c):
		j := i
		for j < n && sqltext.IsWordByte(sql[j]) {
			j++
		}
		w := sql[i:j]
		switch {
		case strings.EqualFold(w, "NULL"), strings.EqualFold(w, "TRUE"), strings.EqualFold(w, "FALSE"):
			return j, true
		case (w == "x" || w == "X" || w == "b" || w == "B") && j < n && sql[j] == '\'':
			return quotedLiteralEnd(sql, j)
		}
	}
	return 0, false
}

// numberEnd returns the index past the number at i: digits with an
// optional fraction and exponent, or 0x and hex digits.
func numberEnd(sql string, i int) (int, bool) {
	n := len(sql)
	j := i
	if j+1 < n && sql[j] == '0' && (sql[j+1] == 'x' || sql[j+1] == 'X') {
		j += 2
		for j < n && isHexDigit(sql[j]) {
			j++
		}
		if j == i+2 {
			return 0, false
		}
	} else {
		digits := 0
		for j < n && isDigit(sql[j]) {
			j, digits = j+1, digits+1
		}
		if j < n && sql[j] == '.' {
			j++
			for j < n && isDigit(sql[j]) {
				j, digits = j+1, digits+1
			}
		}
		if digits == 0 {
			return 0, false
		}
		if j < n && (sql[j] == 'e' || sql[j] == 'E') {
			j++
			if j < n && (sql[j] == '+' || sql[j] == '-') {
				j++
			}
			exp := j
			for j < n && isDigit(sql[j]) {
				j++
			}
			if j == exp {
				return 0, false
			}
		}
	}
	// A number glued to a word (1abc) is a name.
	if j < n && sqltext.IsWordByte(sql[j]) {
		return 0, false
	}
	return j, true
}

// quotedLiteralEnd returns the index past the string whose quote is at
// i; false when it is not closed.
func quotedLiteralEnd(sql string, i int) (int, bool) {
	q := sql[i]
	for j := i + 1; j < len(sql); j++ {
		switch sql[j] {
		case '\\':
			j++
		case q:
			if j+1 < len(sql) && sql[j+1] == q {
				j++
				continue
			}
			return j + 1, true
		}
	}
	return 0, false
}

func isDigit(c byte) bool    { return c >= '0' && c <= '9' }
func isHexDigit(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }
