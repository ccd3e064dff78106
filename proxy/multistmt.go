package proxy

import (
	"context"
	"strings"
)

// handleQueries answers COM_QUERY. With multi-statements on, the text is
// split into statements run in order; each result but the last carries
// SERVER_MORE_RESULTS_EXISTS, and the first error ends the batch (the
// statements after it do not run), as in mysqld.
func (cc *clientConn) handleQueries(ctx context.Context, sql string) error {
	if !cc.multiStatements {
		return cc.handleQuery(ctx, sql)
	}
	stmts := splitStatements(sql)
	if len(stmts) <= 1 {
		return cc.handleQuery(ctx, sql)
	}
	defer func() { cc.moreResults = false }()
	for i, q := range stmts {
		cc.moreResults = i < len(stmts)-1
		cc.pw.wroteError = false
		if err := cc.handleQuery(ctx, q); err != nil {
			return err
		}
		if cc.pw.wroteError || cc.closed.Load() {
			return nil
		}
	}
	return nil
}

// splitStatements splits text at the semicolons that end statements:
// those outside quotes (”, "", “), comments (--, #, /* */) and
// executable comments. Empty statements (only blanks and comments) are
// dropped; each statement keeps its comments (hints live there).
func splitStatements(sql string) []string {
	var out []string
	start := 0
	add := func(end int) {
		s := sql[start:end]
		if !isBlankSQL(s) {
			out = append(out, strings.TrimSpace(s))
		}
	}
	for i := 0; i < len(sql); i++ {
		if i == start && startsCompound(sql, start) {
			// A stored program or compound statement: its body's
			// semicolons do not end it.
			end := compoundEnd(sql, start)
			add(end)
			start = end + 1
			i = end
			continue
		}
		switch c := sql[i]; c {
		case '\'', '"', '`':
			i = skipQuoted(sql, i, c)
		case '#':
			i = skipLine(sql, i)
		case '-':
			if isDashComment(sql, i) {
				i = skipLine(sql, i)
			}
		case '/':
			if i+1 < len(sql) && sql[i+1] == '*' {
				end := strings.Index(sql[i+2:], "*/")
				if end < 0 {
					i = len(sql)
				} else {
					i = i + 2 + end + 1
				}
			}
		case ';':
			add(i)
			start = i + 1
		}
	}
	if start < len(sql) {
		add(len(sql))
	}
	return out
}

// skipQuoted returns the index of the quote that closes the one at i.
// Backslash escapes apply inside ” and "" (not with
// NO_BACKSLASH_ESCAPES, which the gate does not support); a doubled quote
// is an escaped one.
func skipQuoted(s string, i int, q byte) int {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			if q != '`' {
				j++
			}
		case q:
			if j+1 < len(s) && s[j+1] == q {
				j++
				continue
			}
			return j
		}
	}
	return len(s)
}

// skipLine returns the index of the newline ending the comment at i.
func skipLine(s string, i int) int {
	if n := strings.IndexByte(s[i:], '\n'); n >= 0 {
		return i + n
	}
	return len(s)
}

// isDashComment says whether "--" at i starts a comment: MySQL wants a
// blank or control character (or the end) after the two dashes.
func isDashComment(s string, i int) bool {
	if i+1 >= len(s) || s[i+1] != '-' {
		return false
	}
	return i+2 >= len(s) || s[i+2] <= ' '
}

// isBlankSQL says whether s holds nothing but blanks and comments.
func isBlankSQL(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
		case c == '#':
			i = skipLine(s, i)
		case c == '-' && isDashComment(s, i):
			i = skipLine(s, i)
		case c == '/' && i+1 < len(s) && s[i+1] == '*' && !(i+2 < len(s) && s[i+2] == '!'):
			end := strings.Index(s[i+2:], "*/")
			if end < 0 {
				return true
			}
			i += 2 + end + 1
		default:
			return false
		}
	}
	return true
}
