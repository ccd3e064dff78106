package sqltext

import (
	"reflect"
	"strings"
	"testing"
)

func TestTokens(t *testing.T) {
	cases := []struct {
		sql  string
		want []string // kind:text
	}{
		{"select a.b, 'it''s', \"x\\\"y\" from `t``1`", []string{"w:select", "w:a", "p:.", "w:b", "p:,", "q:'it''s'", "p:,", "q:\"x\\\"y\"", "w:from", "q:`t``1`"}},
		{"x -- c\n# d\ny /* e */ /*! f */ 3--1", []string{"w:x", "c:-- c", "c:# d", "w:y", "c:/* e */", "c:/*! f */", "w:3", "p:-", "p:-", "w:1"}},
		{"'open", []string{"q:'open"}},
		{"a /* open", []string{"w:a", "c:/* open"}},
		{"é$_1;", []string{"w:é$_1", "p:;"}},
		{"--", []string{"c:--"}},
	}
	kinds := map[Kind]string{Word: "w", Quoted: "q", Comment: "c", Punct: "p"}
	for _, c := range cases {
		var got []string
		for _, tk := range Tokens(c.sql) {
			got = append(got, kinds[tk.Kind]+":"+tk.Text(c.sql))
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("Tokens(%q)\n got %q\nwant %q", c.sql, got, c.want)
		}
	}
}

func TestSkipSpaceAndComments(t *testing.T) {
	for sql, want := range map[string]int{
		"  /* a */ -- b\n # c\n select": 21,
		"select":                        0,
		" /* open":                      8,
		"/*!50003 create */":            0 + 18,
	} {
		if got := SkipSpaceAndComments(sql, 0); got != want {
			t.Errorf("SkipSpaceAndComments(%q) = %d, want %d", sql, got, want)
		}
	}
}

// TestWithoutBackslashEscapes: under NO_BACKSLASH_ESCAPES 'a\' is a whole
// string, and the ; after it ends the statement.
func TestWithoutBackslashEscapes(t *testing.T) {
	const sql = `select 'a\'; select "b\" from t; select 'it''s\\'`
	var got []string
	lex := WithoutBackslashEscapes(sql)
	if len(lex) != len(sql) {
		t.Fatalf("length %d, want %d", len(lex), len(sql))
	}
	for _, tk := range Tokens(lex) {
		got = append(got, tk.Text(sql))
	}
	want := []string{"select", `'a\'`, ";", "select", `"b\"`, "from", "t", ";", "select", `'it''s\\'`}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("tokens %q\nwant   %q", got, want)
	}
	// With backslash escapes the first string runs on.
	if tk, _ := Next(sql, 7); tk.Text(sql) == `'a\'` {
		t.Errorf("default lexing ended the string at the backslash")
	}
}
