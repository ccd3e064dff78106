package sqltext

import (
	"strings"
	"testing"
)

func TestMeasure(t *testing.T) {
	cases := []struct {
		sql    string
		lim    DepthLimits
		want   Exceeded
		at     string // the text from the offending token on
		tokens int    // checked when not 0
	}{
		{sql: "select a, b from t", tokens: 6},
		{sql: "select ((1))", lim: DepthLimits{Parens: 1}, want: TooManyParens, at: "(1))"},
		{sql: "select ((1))", lim: DepthLimits{Parens: 2}},
		{sql: "select '(((((', `((((`, \"((((\"", lim: DepthLimits{Parens: 1}},
		{sql: "select /* (((( */ 1 -- ((((\n", lim: DepthLimits{Parens: 1}, tokens: 2},
		{sql: "select 1 # ((((\n", lim: DepthLimits{Parens: 1}},
		// Executable comments are SQL to a parser.
		{sql: "select /*!50001 (((1))) */", lim: DepthLimits{Parens: 2}, want: TooManyParens, at: "(1))) */"},
		{sql: "select /*M!100100 (1) */ + (2)", lim: DepthLimits{Parens: 1}, tokens: 8},
		{sql: "select (select (select 1))", lim: DepthLimits{Selects: 2}, want: TooManySelects, at: "select 1))"},
		{sql: "select (select (select 1))", lim: DepthLimits{Selects: 3}},
		{sql: "select 1 union select 2 union (select 3)", lim: DepthLimits{Selects: 2}},
		{sql: "((select 1)) union ((select 2))", lim: DepthLimits{Selects: 1}},
		{sql: "select * from (select * from (select 1) a) b", lim: DepthLimits{Selects: 2}, want: TooManySelects, at: "select 1) a) b"},
		{sql: "select t.`select` from t", lim: DepthLimits{Selects: 1}},
		{sql: "select 1+1+1+1", lim: DepthLimits{Expr: 3}},
		{sql: "select 1+1+1+1+1", lim: DepthLimits{Expr: 3}, want: TooDeep, at: "+1"},
		{sql: "select ~~~~1", lim: DepthLimits{Expr: 3}, want: TooDeep, at: "~1"},
		{sql: "select 1 from t where a=1 or a=2", lim: DepthLimits{Expr: 2}, want: TooDeep, at: "=2"},
		{sql: "select 1 from t where a=1 OR a=2", lim: DepthLimits{Expr: 3}},
		// The items of a list do not nest.
		{sql: "select 1 from t where id in (" + strings.Repeat("1+1, ", 1000) + "1)", lim: DepthLimits{Expr: 3}},
		{sql: "insert into t values " + strings.Repeat("(1, -2, 'x'), ", 1000) + "(1, -2, 'x')", lim: DepthLimits{Parens: 1, Expr: 3}},
		// An unbalanced ) is the parser's business.
		{sql: "select 1)) + ((2", lim: DepthLimits{Parens: 2}},
	}
	for _, c := range cases {
		m := Measure(c.sql, c.lim)
		if m.Exceeded != c.want {
			t.Errorf("%q: exceeded %d, want %d", c.sql, m.Exceeded, c.want)
			continue
		}
		if c.want != WithinLimits && c.sql[m.At:] != c.at {
			t.Errorf("%q: at %q, want %q", c.sql, c.sql[m.At:], c.at)
		}
		if c.tokens != 0 && m.Tokens != c.tokens {
			t.Errorf("%q: %d tokens, want %d", c.sql, m.Tokens, c.tokens)
		}
	}
}

// Measuring is cheap: no allocation past the frames of the parentheses,
// whatever the statement's size.
func TestMeasureAllocations(t *testing.T) {
	sql := "select 1 from t where id in (" + strings.Repeat("12345, ", 100000) + "1)"
	allocs := testing.AllocsPerRun(5, func() {
		Measure(sql, DepthLimits{Parens: 32000, Selects: 64, Expr: 100000})
	})
	if allocs > 2 {
		t.Fatalf("%v allocations measuring a flat statement", allocs)
	}
}

// FuzzMeasure: any text measures without panicking, stops within the
// text, and never reports a limit it did not pass.
func FuzzMeasure(f *testing.F) {
	f.Add("select ((1)) /*! (((2))) */ -- (((\n + 1 or not ~1, 'a(' , `b)`")
	f.Add("select (select (select 1 from t where a in (1, 2+3)))")
	f.Add("/*M!100100 select */ ((( \"x\\\"((\" )))")
	f.Add(strings.Repeat("(", 40) + "select" + strings.Repeat(")", 41))
	f.Fuzz(func(t *testing.T, sql string) {
		lim := DepthLimits{Parens: 8, Selects: 3, Expr: 12}
		m := Measure(sql, lim)
		if m.Exceeded == WithinLimits {
			return
		}
		if m.At < 0 || m.At >= len(sql) {
			t.Fatalf("exceeded at %d of %d bytes", m.At, len(sql))
		}
		// Any prefix of the text that stops before the offending
		// token is within the limits.
		if again := Measure(sql[:m.At], lim); again.Exceeded != WithinLimits {
			t.Fatalf("the text before the offending token exceeds too: %+v after %+v", again, m)
		}
	})
}
