package router

import (
	"strings"
	"testing"

	"github.com/mosaicdb/mosaic/sqlerr"
)

// TestNoBackslashEscapes: under NO_BACKSLASH_ESCAPES a backslash is a
// character like any other, in the statement's literals, in those the
// router regenerates and in the bind values it writes; the same text
// planned in each mode is sent as each mode reads it (a plan cached in
// one mode never serves the other).
func TestNoBackslashEscapes(t *testing.T) {
	r := testRouter()
	// The keyspace qualifier makes the router regenerate the statement;
	// 'x\y' is normalized into a bind variable, ? is bound.
	const sql = `select 'a\c', 'it''s' from commerce.t where v = 'x\y' and w = ?`
	for _, c := range []struct {
		mode ParseMode
		want string
	}{
		{0, `SELECT 'ac','it''s' FROM ` + "`t`" + ` WHERE ` + "`v`" + ` = 'xy' AND ` + "`w`" + ` = 'p\\q\'r'`},
		{NoBackslashEscapes, `SELECT 'a\c','it''s' FROM ` + "`t`" + ` WHERE ` + "`v`" + ` = 'x\y' AND ` + "`w`" + ` = 'p\q''r'`},
		{0, `SELECT 'ac','it''s' FROM ` + "`t`" + ` WHERE ` + "`v`" + ` = 'xy' AND ` + "`w`" + ` = 'p\\q\'r'`},
		{NoBackslashEscapes | IgnoreSpace, `SELECT 'a\c','it''s' FROM ` + "`t`" + ` WHERE ` + "`v`" + ` = 'x\y' AND ` + "`w`" + ` = 'p\q''r'`},
	} {
		p, bv, err := r.Plan(sql, "commerce", c.mode)
		if err != nil {
			t.Fatalf("mode %q: %v", c.mode, err)
		}
		if bv, err = p.Bind(bv, []any{`p\q'r`}); err != nil {
			t.Fatal(err)
		}
		f := &fakeExec{}
		if _, err := p.Execute(t.Context(), f, bv); err != nil {
			t.Fatal(err)
		}
		if want := "Execute commerce/0 " + c.want; len(f.lines) != 1 || f.lines[0] != want {
			t.Errorf("mode %q: sent %q\nwant %q", c.mode, f.lines, want)
		}
	}
	// mysqld reads the mode back from @@sql_mode.
	if m := ParseModeOf("STRICT_TRANS_TABLES,NO_BACKSLASH_ESCAPES,IGNORE_SPACE"); m != NoBackslashEscapes|IgnoreSpace {
		t.Errorf("ParseModeOf: %v", m)
	}
	// An explicit ESCAPE '\' would be regenerated without its clause,
	// which means no escape character in this mode: a constant pattern
	// is rewritten with another escape character, another kind refused.
	for _, c := range []struct{ sql, want string }{
		{`select * from commerce.t where v like 'a\%' escape '\'`, `LIKE 'a|%' ESCAPE '|'`},
		{`select * from commerce.t where v like 'a|\_b\\%\' escape '\'`, `LIKE 'a|!_b!\%\' ESCAPE '!'`},
	} {
		p, bv, err := r.Plan(c.sql, "commerce", NoBackslashEscapes)
		if err != nil {
			t.Errorf("%s: %v", c.sql, err)
			continue
		}
		f := &fakeExec{}
		if _, err := p.Execute(t.Context(), f, bv); err != nil {
			t.Fatal(err)
		}
		if len(f.lines) != 1 || !strings.Contains(f.lines[0], c.want) {
			t.Errorf("%s: sent %q, want it to hold %s", c.sql, f.lines, c.want)
		}
	}
	// A plan cached for one such statement serves no other's literals.
	for _, c := range []struct{ sql, want string }{
		{`select * from commerce.t where v like 'abc%' escape '\'`, `LIKE 'abc%' ESCAPE '|'`},
		{`select * from commerce.t where v like 'x\%' escape '\'`, `LIKE 'x|%' ESCAPE '|'`},
		{`select * from commerce.t where v like 'y\%' escape '\'`, `LIKE 'y|%' ESCAPE '|'`},
	} {
		p, bv, err := r.Plan(c.sql, "commerce", NoBackslashEscapes)
		if err != nil {
			t.Fatal(err)
		}
		f := &fakeExec{}
		if _, err := p.Execute(t.Context(), f, bv); err != nil {
			t.Fatal(err)
		}
		if len(f.lines) != 1 || !strings.Contains(f.lines[0], c.want) {
			t.Errorf("%s: sent %q, want it to hold %s", c.sql, f.lines, c.want)
		}
	}
	_, _, err := r.Plan(`select * from commerce.t where v like concat(v, '%') escape '\'`, "commerce", NoBackslashEscapes)
	if sqlerr.FromError(err).Num != sqlerr.ERNotSupportedYet {
		t.Errorf("ESCAPE '\\' over a pattern that is not a constant under NO_BACKSLASH_ESCAPES: %v, want 1235", err)
	}
	if _, _, err := r.Plan(`select * from commerce.t where v like 'a|%' escape '|'`, "commerce", NoBackslashEscapes); err != nil {
		t.Errorf("ESCAPE '|': %v", err)
	}
}
