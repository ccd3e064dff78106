package sqltext

import "strings"

// Kind is what a token is.
type Kind int

const (
	// Word is a keyword, an unquoted name or a number.
	Word Kind = iota
	// Quoted is a '...' or "..." string or a `...` name.
	Quoted
	// Comment is -- ..., # ... or /* ... */ (executable /*! ... */
	// comments included).
	Comment
	// Punct is any other single byte.
	Punct
)

// Token is a token of sql[Start:End].
type Token struct {
	Kind       Kind
	Start, End int
}

// Text returns the token's text in sql.
func (t Token) Text(sql string) string { return sql[t.Start:t.End] }

// IsSpace reports MariaDB's white space.
func IsSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// IsWordByte reports the bytes of words: letters, digits, _ and $, and
// any byte of a multi-byte character.
func IsWordByte(c byte) bool {
	return c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// Next returns the token at or after i, skipping white space; false at
// the end of sql. An unterminated string or comment runs to the end.
func Next(sql string, i int) (Token, bool) {
	n := len(sql)
	for i < n && IsSpace(sql[i]) {
		i++
	}
	if i >= n {
		return Token{}, false
	}
	start, c := i, sql[i]
	switch {
	case c == '\'' || c == '"' || c == '`':
		return Token{Quoted, start, quotedEnd(sql, i)}, true
	case c == '#' || isDashComment(sql, i):
		for i < n && sql[i] != '\n' {
			i++
		}
		return Token{Comment, start, i}, true
	case c == '/' && i+1 < n && sql[i+1] == '*':
		end := strings.Index(sql[i+2:], "*/")
		if end < 0 {
			return Token{Comment, start, n}, true
		}
		return Token{Comment, start, i + 2 + end + 2}, true
	case IsWordByte(c):
		for i < n && IsWordByte(sql[i]) {
			i++
		}
		return Token{Word, start, i}, true
	}
	return Token{Punct, start, i + 1}, true
}

// Tokens returns every token of sql.
func Tokens(sql string) []Token {
	var out []Token
	for i := 0; ; {
		t, ok := Next(sql, i)
		if !ok {
			return out
		}
		out = append(out, t)
		i = t.End
	}
}

// SkipSpaceAndComments returns the index of the first byte at or after i
// that is neither white space nor in a comment.
func SkipSpaceAndComments(sql string, i int) int {
	for {
		t, ok := Next(sql, i)
		if !ok {
			return len(sql)
		}
		if t.Kind != Comment {
			return t.Start
		}
		i = t.End
	}
}

// quotedEnd returns the index just past the quote closing the one at i
// (or len(sql)). Backslash escapes apply inside single- and double-quoted
// strings (under NO_BACKSLASH_ESCAPES, lex WithoutBackslashEscapes(sql));
// a doubled quote stands for itself.
func quotedEnd(sql string, i int) int {
	q := sql[i]
	for j := i + 1; j < len(sql); j++ {
		switch sql[j] {
		case '\\':
			if q != '`' {
				j++
			}
		case q:
			if j+1 < len(sql) && sql[j+1] == q {
				j++
				continue
			}
			return j + 1
		}
	}
	return len(sql)
}

// WithoutBackslashEscapes returns sql with every backslash replaced by a
// blank. Under sql_mode NO_BACKSLASH_ESCAPES a backslash escapes nothing:
// inside a string it is a character like any other, and outside one it
// is no part of a word, a quote or a comment. Lexed by this package, the
// returned text has the tokens MariaDB reads in sql under that mode, at
// the same offsets: slice sql by them.
func WithoutBackslashEscapes(sql string) string {
	if strings.IndexByte(sql, '\\') < 0 {
		return sql
	}
	return strings.ReplaceAll(sql, `\`, " ")
}

// isDashComment says whether "--" at i starts a comment: MariaDB wants a
// blank or control character (or the end) after the two dashes.
func isDashComment(sql string, i int) bool {
	if i+1 >= len(sql) || sql[i] != '-' || sql[i+1] != '-' {
		return false
	}
	return i+2 >= len(sql) || sql[i+2] <= ' '
}
