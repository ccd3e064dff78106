package router

import (
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/format"
	"github.com/pingcap/tidb/pkg/parser/mysql"
	driver "github.com/pingcap/tidb/pkg/parser/test_driver"

	"github.com/mosaicdb/mosaic/sqlerr"
)

// ParseMode is the part of a session's sql_mode that changes how the
// router parses its statements and writes the SQL it sends to shards.
// The zero value is MySQL's default parsing.
//
// A plan is cached for the mode it was parsed in and never serves another:
// `SELECT COUNT (*) FROM t` is a syntax error without IGNORE_SPACE and a
// count with it, and with IGNORE_SPACE the names of built-in functions
// are keywords wherever a parenthesis follows, spaces or not; 'it\'s' is
// one string without NO_BACKSLASH_ESCAPES, and the string 'it\' followed
// by stray text with it.
type ParseMode uint8

const (
	// IgnoreSpace is sql_mode's IGNORE_SPACE: spaces may separate a
	// built-in function's name from its parenthesis. mysqld sets it for
	// a client that connects with CLIENT_IGNORE_SPACE (MariaDB
	// Connector/J does).
	IgnoreSpace ParseMode = 1 << iota
	// NoBackslashEscapes is sql_mode's NO_BACKSLASH_ESCAPES: a backslash
	// in a string literal is a character like any other, and only a
	// doubled quote escapes. The tablets' connections have the same mode
	// (the session's sql_mode is one of its settings), so every literal
	// the router writes for them is quoted that way too.
	NoBackslashEscapes
)

// ParseModeOf returns the parse mode of an @@sql_mode value ("ANSI",
// "IGNORE_SPACE,STRICT_TRANS_TABLES", ...): the modes it holds that the
// router parses by. mysqld reads combination modes such as ANSI back as
// the modes they stand for.
func ParseModeOf(sqlMode string) ParseMode {
	var m ParseMode
	for _, name := range strings.Split(sqlMode, ",") {
		switch strings.ToUpper(strings.TrimSpace(name)) {
		case "IGNORE_SPACE", "ANSI":
			m |= IgnoreSpace
		case "NO_BACKSLASH_ESCAPES":
			m |= NoBackslashEscapes
		}
	}
	return m
}

// sqlMode is the parser's SQL mode for m.
func (m ParseMode) sqlMode() mysql.SQLMode {
	var out mysql.SQLMode
	if m&IgnoreSpace != 0 {
		out |= mysql.ModeIgnoreSpace
	}
	if m&NoBackslashEscapes != 0 {
		out |= mysql.ModeNoBackslashEscapes
	}
	return out
}

// RestoreFlags are the parser's restore flags that write string literals
// as a connection in mode m reads them: with backslash escapes, or, under
// NO_BACKSLASH_ESCAPES, with doubled quotes only. The other flags are
// format.DefaultRestoreFlags.
func (m ParseMode) RestoreFlags() format.RestoreFlags {
	return m.stringFlags(format.DefaultRestoreFlags)
}

// stringFlags adds to flags the backslash escapes that mode m's strings
// need.
func (m ParseMode) stringFlags(flags format.RestoreFlags) format.RestoreFlags {
	if m&NoBackslashEscapes != 0 {
		return flags &^ format.RestoreStringEscapeBackslash
	}
	return flags | format.RestoreStringEscapeBackslash
}

// String names the modes set in m as sql_mode does.
func (m ParseMode) String() string {
	var names []string
	if m&IgnoreSpace != 0 {
		names = append(names, "IGNORE_SPACE")
	}
	if m&NoBackslashEscapes != 0 {
		names = append(names, "NO_BACKSLASH_ESCAPES")
	}
	return strings.Join(names, ",")
}

// checkEscapes handles, under NO_BACKSLASH_ESCAPES, a LIKE with an
// explicit ESCAPE '\': the parser keeps the escape but regenerates the
// LIKE without its clause ('\' is its default), which in this mode means
// no escape character at all on mysqld. A LIKE whose pattern is a string
// constant is rewritten to the same match with another escape character,
// one the pattern does not hold (each \x becomes Ex); a pattern of any
// other kind (a column, a parameter, an expression) is refused.
func (m ParseMode) checkEscapes(stmt ast.Node) error {
	if m&NoBackslashEscapes == 0 {
		return nil
	}
	v := &explicitBackslashEscape{}
	stmt.Accept(v)
	if v.refused {
		return sqlerr.NotSupported("LIKE ... ESCAPE '\\' under NO_BACKSLASH_ESCAPES with a pattern that is not a string constant (the gate would send it without its ESCAPE clause): use another escape character")
	}
	return nil
}

// escapeCandidates are the escape characters a rewritten LIKE may take.
const escapeCandidates = "|!#~^$@&=;:"

type explicitBackslashEscape struct{ refused bool }

func (v *explicitBackslashEscape) Enter(n ast.Node) (ast.Node, bool) {
	l, ok := n.(*ast.PatternLikeOrIlikeExpr)
	if !ok || !l.EscapeExplicit || l.Escape != '\\' {
		return n, v.refused
	}
	pat, ok := l.Pattern.(*driver.ValueExpr)
	if !ok || pat.Kind() != driver.KindString {
		v.refused = true
		return n, true
	}
	text := pat.GetString()
	var esc byte
	for i := 0; i < len(escapeCandidates); i++ {
		if !strings.Contains(text, escapeCandidates[i:i+1]) {
			esc = escapeCandidates[i]
			break
		}
	}
	if esc == 0 {
		v.refused = true
		return n, true
	}
	var b strings.Builder
	for i := 0; i < len(text); i++ {
		if text[i] == '\\' && i+1 < len(text) {
			b.WriteByte(esc)
			b.WriteByte(text[i+1])
			i++
			continue
		}
		// A '\' at the end matches itself, as an escape at the end of a
		// pattern does; so does it with another escape character.
		b.WriteByte(text[i])
	}
	pat.SetString(b.String())
	l.Escape = esc
	return n, false
}

func (v *explicitBackslashEscape) Leave(n ast.Node) (ast.Node, bool) { return n, true }
