package router

import (
	"strconv"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/sqltext"
)

// A bulk INSERT (mariadb-dump's extended inserts, sysbench's bulk_insert,
// a driver's rewritten batch) is thousands of rows of literals. Parsing
// all of them, making a bind variable of every literal and writing the
// statement again cost the gate more than mysqld's whole work on it, and
// tens of times the statement's size in memory. So a big INSERT whose
// rows after the first are literals only is planned from its first row:
// when that plan sends the statement as written (an unsharded keyspace),
// the whole statement goes that way unparsed; when it routes each row by
// its vindex value (a sharded table without a sequence), the other rows
// join the plan as they are written, each routed by the integer literal in
// its vindex column. Anything else (a sequence, a vindex value that is not
// an integer literal, an expression in a later row, rows of different
// lengths, anything after the rows) is planned whole, as before.

// planBulkInsert plans sql, a statement too big for the plan caches,
// from its first row when it is such an INSERT; handled is false when
// the whole statement must be planned. An error planning the first row
// is the statement's: planning all rows would meet it too, after parsing
// them (the gate then learns a table's columns and plans again).
func (r *Router) planBulkInsert(sql, keyspace string, tt topodatapb.TabletType, mode ParseMode) (plan *Plan, bv BindVars, handled bool, err error) {
	if IsInformationSchema(keyspace) || mode&NoBackslashEscapes != 0 {
		// (The rows are cut apart by backslash-escaped quoting.)
		return nil, nil, false, nil
	}
	head, rows, ok := cutInsertRows(sql)
	if !ok {
		return nil, nil, false, nil
	}
	vs := r.VSchema()
	colGen := r.colGen.Load()
	stmt, err := r.Parse(head, mode)
	if err != nil {
		return nil, nil, false, nil
	}
	ins, ok := stmt.(*ast.InsertStmt)
	if !ok || len(ins.Lists) != 1 {
		return nil, nil, false, nil
	}
	if lock, err := checkConnState(stmt); err != nil || lock {
		return nil, nil, false, nil
	}
	bv, params, sessionBinds := normalize(stmt)
	if len(params) > 0 {
		return nil, nil, false, nil
	}
	// Where each literal of the first row sits, by its bind variable
	// (planning rewrites the row).
	width := len(ins.Lists[0])
	column := map[string]int{}
	for i, e := range ins.Lists[0] {
		if b, ok := e.(*bindVarExpr); ok {
			column[b.name] = i
		}
	}
	p := &planner{vs: vs, mode: mode, session: keyspace, tabletType: tt, seqs: &r.seqs, cols: r.cfg.Columns}
	prim, typ, err := p.planStmt(stmt, head, bv)
	if err != nil {
		return nil, nil, true, err
	}
	if pt := p.passthrough(prim, sql, bv, params); pt != nil {
		r.stats.misses.Add(1)
		return routePlan(p, stmt, "Passthrough", pt, sessionBinds, sql, false, colGen), nil, true, nil
	}
	one, ok := prim.(*Insert)
	if !ok || one.Sequence != nil || one.Returning || len(one.Rows) != 1 || len(one.Lookups) > 0 {
		// (Lookups need every row's value of their column: planned whole.)
		return nil, nil, false, nil
	}
	all := *one
	all.Rows = append(make([]*sqlTemplate, 0, len(rows)+1), one.Rows[0])
	vindexCol := -1 // the row position of the vindex column's value
	switch one.Opcode {
	case AllShards:
	case EqualUnique:
		if len(one.VindexValues) != 1 || one.VindexValues[0].isConst || one.VindexValues[0].list {
			return nil, nil, false, nil
		}
		if vindexCol, ok = column[one.VindexValues[0].bind]; !ok {
			return nil, nil, false, nil
		}
		all.VindexValues = append(make([]valueSource, 0, len(rows)+1), one.VindexValues[0])
	default:
		return nil, nil, false, nil
	}
	for _, row := range rows {
		if row.width != width {
			// mysqld's error for a row of the wrong length comes from
			// planning the whole statement.
			return nil, nil, false, nil
		}
		if vindexCol >= 0 {
			v, ok := integerLiteral(sql[row.start:row.end], vindexCol)
			if !ok {
				return nil, nil, false, nil
			}
			all.VindexValues = append(all.VindexValues, valueSource{isConst: true, val: v})
		}
		all.Rows = append(all.Rows, textTemplate(sql[row.start:row.end]))
	}
	r.stats.misses.Add(1)
	return routePlan(p, stmt, typ, &all, sessionBinds, sql, false, colGen), bv, true, nil
}

// integerLiteral returns the value of the col'th literal of a row's
// text when it is a decimal integer (int64, or uint64 past it), as the
// normalizer binds it.
func integerLiteral(row string, col int) (any, bool) {
	i := 0
	for c := 0; ; c++ {
		i = skipSpace(row, i)
		end, ok := literalEnd(row, i)
		if !ok {
			return nil, false
		}
		if c == col {
			text := row[i:end]
			if v, err := strconv.ParseInt(text, 10, 64); err == nil {
				return v, true
			}
			if v, err := strconv.ParseUint(text, 10, 64); err == nil {
				return v, true
			}
			return nil, false
		}
		i = skipSpace(row, end)
		if i == len(row) || row[i] != ',' {
			return nil, false
		}
		i++
	}
}

// literalRow is a row after the first of a bulk INSERT: the text
// between its parentheses and its number of literals.
type literalRow struct {
	start, end, width int
}

// cutInsertRows returns sql up to the end of the first row of its VALUES
// list, and the other rows, when sql is INSERT or REPLACE ... VALUES
// (...), (...), ... with nothing but an optional ';' after the rows, and
// every row after the first made of literals only (numbers, strings,
// NULL, TRUE, FALSE, hex and bit literals).
func cutInsertRows(sql string) (string, []literalRow, bool) {
	t, ok := sqltext.Next(sql, sqltext.SkipSpaceAndComments(sql, 0))
	if !ok || t.Kind != sqltext.Word {
		return "", nil, false
	}
	if w := t.Text(sql); !strings.EqualFold(w, "INSERT") && !strings.EqualFold(w, "REPLACE") {
		return "", nil, false
	}
	// Up to VALUES at the top level.
	i := t.End
scan:
	for {
		t, ok = sqltext.Next(sql, i)
		if !ok {
			return "", nil, false
		}
		i = t.End
		switch {
		case t.Kind == sqltext.Punct && sql[t.Start] == '(':
			if i, ok = closeParen(sql, i); !ok {
				return "", nil, false
			}
		case t.Kind == sqltext.Punct && sql[t.Start] == ';':
			return "", nil, false
		case t.Kind == sqltext.Word:
			switch w := t.Text(sql); {
			case strings.EqualFold(w, "VALUES"), strings.EqualFold(w, "VALUE"):
				break scan
			case strings.EqualFold(w, "SELECT"), strings.EqualFold(w, "SET"), strings.EqualFold(w, "TABLE"), strings.EqualFold(w, "WITH"):
				return "", nil, false
			}
		}
	}
	// The first row, whatever it holds.
	t, ok = sqltext.Next(sql, sqltext.SkipSpaceAndComments(sql, i))
	if !ok || t.Kind != sqltext.Punct || sql[t.Start] != '(' {
		return "", nil, false
	}
	if i, ok = closeParen(sql, t.End); !ok {
		return "", nil, false
	}
	head := sql[:i]
	// The other rows: literals only, and nothing after them.
	var rows []literalRow
	for {
		i = skipSpace(sql, i)
		if i == len(sql) {
			return head, rows, true
		}
		switch sql[i] {
		case ';':
			if skipSpace(sql, i+1) != len(sql) {
				return "", nil, false
			}
			return head, rows, true
		case ',':
			i = skipSpace(sql, i+1)
			if i == len(sql) || sql[i] != '(' {
				return "", nil, false
			}
			open := i
			var width int
			if i, width, ok = literalRowEnd(sql, i); !ok {
				return "", nil, false
			}
			rows = append(rows, literalRow{start: open + 1, end: i - 1, width: width})
		default:
			return "", nil, false
		}
	}
}

// closeParen returns the index past the ')' that closes the '(' just
// before i.
func closeParen(sql string, i int) (int, bool) {
	for depth := 1; depth > 0; {
		t, ok := sqltext.Next(sql, i)
		if !ok {
			return 0, false
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
	return i, true
}

func skipSpace(sql string, i int) int {
	for i < len(sql) && sqltext.IsSpace(sql[i]) {
		i++
	}
	return i
}

// literalRowEnd returns the index past the row of literals whose '(' is
// at i, and its number of literals.
func literalRowEnd(sql string, i int) (int, int, bool) {
	for n := 1; ; n++ {
		i = skipSpace(sql, i+1)
		end, ok := literalEnd(sql, i)
		if !ok {
			return 0, 0, false
		}
		i = skipSpace(sql, end)
		if i == len(sql) {
			return 0, 0, false
		}
		switch sql[i] {
		case ',':
		case ')':
			return i + 1, n, true
		default:
			return 0, 0, false
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
