package router

import (
	"fmt"
	"io"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/format"

	"github.com/mosaicdb/mosaic/router/sqltypes"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// restoreFlags regenerate SQL for shards: single-quoted strings with
// backslash escapes, upper-case keywords, back-quoted names, and string
// literals without the default charset introducer. Under
// NO_BACKSLASH_ESCAPES strings have no backslash escapes
// (ParseMode.stringFlags).
const restoreFlags = format.RestoreStringSingleQuotes | format.RestoreStringEscapeBackslash |
	format.RestoreKeyWordUppercase | format.RestoreNameBackQuotes |
	format.RestoreSpacesAroundBinaryOperation | format.RestoreStringWithoutDefaultCharset

// bindKind says how a bind variable is written into SQL.
type bindKind int

const (
	bindScalar bindKind = iota // one value: 42, 'abc', NULL
	bindList                   // values joined by ", " (an IN list's contents)
	// bindSubqueryList is a list that may be empty: an empty one is written
	// as a subquery returning no rows, which keeps IN / NOT IN semantics.
	bindSubqueryList
)

// bindVarExpr stands for a bind variable in the AST. Restored into a
// template it becomes a substitution point; restored as text it reads
// :name (scalar) or ::name (list).
type bindVarExpr struct {
	ast.TexprNode
	name string
	kind bindKind
	// column is mysqld's column definition of the session value this bind
	// variable stands for (sessioncols.go); nil for other bind variables.
	column *sessionColumnDef
}

func newBindVar(name string, kind bindKind) *bindVarExpr {
	return &bindVarExpr{name: name, kind: kind}
}

func (b *bindVarExpr) Restore(ctx *format.RestoreCtx) error {
	if tw, ok := ctx.In.(*templateWriter); ok {
		tw.bind(b.name, b.kind)
		return nil
	}
	if b.kind == bindScalar {
		ctx.WritePlain(":" + b.name)
	} else {
		ctx.WritePlain("::" + b.name)
	}
	return nil
}

func (b *bindVarExpr) Format(w io.Writer) { fmt.Fprintf(w, ":%s", b.name) }

func (b *bindVarExpr) Accept(v ast.Visitor) (ast.Node, bool) {
	n, skip := v.Enter(b)
	if skip {
		return v.Leave(n)
	}
	return v.Leave(n)
}

type segment struct {
	text string
	bind string
	kind bindKind
	isBV bool
}

// sqlTemplate is per-shard SQL with substitution points for bind values.
// It is immutable and shared by every execution of a cached plan.
type sqlTemplate struct {
	segs []segment
	// size estimates the rendered length.
	size int
	// display is the SQL with :name markers, for EXPLAIN and tests.
	display string
	// noBackslash writes bind values for a connection under
	// NO_BACKSLASH_ESCAPES.
	noBackslash bool
}

type templateWriter struct {
	strings.Builder
	mariadb mariadbWords
	segs    []segment
}

func (w *templateWriter) Write(p []byte) (int, error) {
	w.Builder.WriteString(w.mariadb.translate(string(p)))
	return len(p), nil
}

func (w *templateWriter) WriteString(s string) (int, error) {
	w.Builder.WriteString(w.mariadb.translate(s))
	return len(s), nil
}

// sqlWriter is a strings.Builder for restored SQL in MariaDB's words.
type sqlWriter struct {
	strings.Builder
	mariadb mariadbWords
}

func (w *sqlWriter) Write(p []byte) (int, error) {
	w.Builder.WriteString(w.mariadb.translate(string(p)))
	return len(p), nil
}

func (w *sqlWriter) WriteString(s string) (int, error) {
	w.Builder.WriteString(w.mariadb.translate(s))
	return len(s), nil
}

// mariadbWords translates what the parser restores in MySQL 8's syntax
// where MariaDB 10.11 wants its own: SELECT ... FOR SHARE [NOWAIT | SKIP
// LOCKED] is MariaDB's LOCK IN SHARE MODE [...]. The restore writes a
// keyword with a call of its own, and a quoted string or name as three
// calls (quote, text, quote; a quote inside the text is doubled), so a
// call is a keyword unless it comes between quotes.
type mariadbWords struct {
	// quote is the open quote character, 0 outside quotes.
	quote byte
}

func (m *mariadbWords) translate(s string) string {
	if len(s) == 1 && (s[0] == '\'' || s[0] == '`' || s[0] == '"') {
		switch m.quote {
		case 0:
			m.quote = s[0]
		case s[0]:
			m.quote = 0
		}
		return s
	}
	if m.quote == 0 && s == "FOR SHARE" {
		return "LOCK IN SHARE MODE"
	}
	return s
}

func (w *templateWriter) flush() {
	if w.Len() > 0 {
		w.segs = append(w.segs, segment{text: w.String()})
		w.Reset()
	}
}

func (w *templateWriter) bind(name string, kind bindKind) {
	w.flush()
	w.segs = append(w.segs, segment{bind: name, kind: kind, isBV: true})
}

// restoreSQL regenerates the SQL of a node as plain text (bind variables
// as :name), quoted as in the default sql_mode: text to compare and name
// things by, not to send.
func restoreSQL(n ast.Node) (string, error) {
	return restoreSQLIn(n, 0)
}

// restoreSQLIn regenerates the SQL of a node as plain text for a shard
// connection whose sql_mode parses as mode.
func restoreSQLIn(n ast.Node, mode ParseMode) (string, error) {
	var sb sqlWriter
	if err := n.Restore(format.NewRestoreCtx(mode.stringFlags(restoreFlags), &sb)); err != nil {
		return "", sqlerr.NotSupported("regenerating SQL for this statement: %v", err)
	}
	return sb.String(), nil
}

// newTemplate regenerates a node's SQL as a template for shard
// connections whose sql_mode parses as mode.
func newTemplate(n ast.Node, mode ParseMode) (*sqlTemplate, error) {
	tw := &templateWriter{}
	if err := n.Restore(format.NewRestoreCtx(mode.stringFlags(restoreFlags), tw)); err != nil {
		return nil, sqlerr.NotSupported("regenerating SQL for this statement: %v", err)
	}
	tw.flush()
	display, err := restoreSQLIn(n, mode)
	if err != nil {
		return nil, err
	}
	return templateOf(tw.segs, display, mode&NoBackslashEscapes != 0), nil
}

// templateOf makes a template of segs; noBackslash quotes its bind values
// for a connection under NO_BACKSLASH_ESCAPES.
func templateOf(segs []segment, display string, noBackslash bool) *sqlTemplate {
	t := &sqlTemplate{segs: segs, display: display, noBackslash: noBackslash}
	for _, s := range segs {
		t.size += len(s.text) + 8
	}
	return t
}

// textTemplate is a template without substitution points.
func textTemplate(sql string) *sqlTemplate {
	return templateOf([]segment{{text: sql}}, sql, false)
}

// lookupFunc returns the value of a bind variable.
type lookupFunc func(name string) (any, bool)

// render substitutes bind values. Scalar values are those sqltypes.AppendSQL
// takes; list values are []any.
func (t *sqlTemplate) render(lookup lookupFunc) (string, error) {
	if len(t.segs) == 1 && !t.segs[0].isBV {
		return t.segs[0].text, nil
	}
	b := make([]byte, 0, t.size)
	var err error
	for _, s := range t.segs {
		if !s.isBV {
			b = append(b, s.text...)
			continue
		}
		v, ok := lookup(s.bind)
		if !ok {
			return "", sqlerr.New(sqlerr.ERWrongArguments, "missing bind variable %s", s.bind)
		}
		switch s.kind {
		case bindScalar:
			if raw, ok := v.(rawSQL); ok {
				b = append(b, raw...)
				continue
			}
			if _, isList := v.([]any); isList {
				return "", sqlerr.New(sqlerr.ERWrongArguments, "bind variable %s is a list where a value is expected", s.bind)
			}
			b, err = sqltypes.AppendSQLIn(b, v, t.noBackslash)
		default:
			list, isList := v.([]any)
			if !isList {
				list = []any{v}
			}
			if len(list) == 0 {
				if s.kind == bindSubqueryList {
					b = append(b, "SELECT 1 FROM DUAL WHERE 0"...)
					continue
				}
				return "", sqlerr.New(sqlerr.ERWrongArguments, "empty list for bind variable %s", s.bind)
			}
			for i, e := range list {
				if i > 0 {
					b = append(b, ", "...)
				}
				if b, err = sqltypes.AppendSQLIn(b, e, t.noBackslash); err != nil {
					break
				}
			}
		}
		if err != nil {
			return "", sqlerr.New(sqlerr.ERWrongArguments, "bind variable %s: %v", s.bind, err)
		}
	}
	return string(b), nil
}

// bvLookup looks names up in bv.
func bvLookup(bv BindVars) lookupFunc {
	return func(name string) (any, bool) {
		v, ok := bv[name]
		return v, ok
	}
}
