package proxy

import (
	"context"
	"strings"

	"github.com/mosaicdb/mosaic/router"
	"github.com/mosaicdb/mosaic/sqlerr"
	"github.com/mosaicdb/mosaic/sqltext"
)

// handleQueries answers COM_QUERY. With multi-statements on, the text is
// split into statements run in order; each result but the last carries
// SERVER_MORE_RESULTS_EXISTS, and the first error ends the batch (the
// statements after it do not run), as in mysqld.
func (cc *clientConn) handleQueries(ctx context.Context, sql string) error {
	// As mysqld: nothing but blanks and semicolons is 1065, nothing but
	// comments an OK.
	if strings.TrimLeft(sql, " \t\r\n\f\v;") == "" {
		return cc.writeError(sqlerr.New(sqlerr.EREmptyQuery, "Query was empty"))
	}
	if isBlankSQL(sql) {
		return cc.writeOK(0, 0)
	}
	if err := cc.checkClientText(sql); err != nil {
		return cc.writeError(err)
	}
	if !cc.multiStatements {
		return cc.handleQuery(ctx, sql)
	}
	stmts := splitStatements(sql, cc.s.ParseMode)
	if len(stmts) <= 1 {
		return cc.handleQuery(ctx, sql)
	}
	defer func() { cc.moreResults = false }()
	for i, q := range stmts {
		cc.moreResults = i < len(stmts)-1
		cc.pw.WroteError = false
		if err := cc.handleQuery(ctx, q); err != nil {
			return err
		}
		if cc.pw.WroteError || cc.closed.Load() {
			return nil
		}
	}
	return nil
}

// splitStatements splits text at the semicolons that end statements:
// those outside quotes (”, "", “), comments (--, #, /* */) and
// executable comments. Empty statements (only blanks and comments) are
// dropped; each statement keeps its comments (hints live there). The
// text is read as the session's sql_mode has mysqld read it: under
// NO_BACKSLASH_ESCAPES 'a\'; ends a statement.
func splitStatements(sql string, mode router.ParseMode) []string {
	lex := sql
	if mode&router.NoBackslashEscapes != 0 {
		lex = sqltext.WithoutBackslashEscapes(sql)
	}
	var out []string
	start := 0
	add := func(end int) {
		s := sql[start:end]
		if !isBlankSQL(s) {
			out = append(out, strings.TrimSpace(s))
		}
	}
	for i := 0; ; {
		if i == start && startsCompound(lex, start) {
			// A stored program or compound statement: its body's
			// semicolons do not end it.
			end := compoundEnd(lex, start)
			add(end)
			start, i = end+1, end+1
			continue
		}
		t, ok := sqltext.Next(lex, i)
		if !ok {
			break
		}
		i = t.End
		if t.Kind == sqltext.Punct && lex[t.Start] == ';' {
			add(t.Start)
			start = t.End
		}
	}
	if start < len(sql) {
		add(len(sql))
	}
	return out
}

// isBlankSQL says whether s holds nothing but blanks and comments
// (executable comments, /*! ... */, are SQL).
func isBlankSQL(s string) bool {
	// Token by token, so that a statement's first word ends the scan.
	for i := 0; ; {
		t, ok := sqltext.Next(s, i)
		if !ok {
			return true
		}
		if t.Kind != sqltext.Comment || strings.HasPrefix(t.Text(s), "/*!") || strings.HasPrefix(t.Text(s), "/*M!") {
			return false
		}
		i = t.End
	}
}
