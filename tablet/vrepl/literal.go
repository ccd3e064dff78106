package vrepl

import (
	"encoding/hex"
	"strings"
)

// appendLiteral appends v, a value of column c in text form (nil for
// NULL), as a SQL literal that mysqld turns back into the same value:
// numbers as they are; character strings with their character set's
// introducer (no conversion), quoted with escapes in the character sets
// where a quote or backslash byte is always that character (utf8mb4,
// latin1...), as hex in the others (gbk, sjis... hide 0x5c inside their
// characters); binary strings as hex; dates and times quoted.
func appendLiteral(b []byte, c *Column, v []byte) []byte {
	if v == nil {
		return append(b, "NULL"...)
	}
	switch c.DataType {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint", "decimal", "numeric", "float", "double", "real", "year":
		if isNumber(v) {
			return append(b, v...)
		}
	case "date", "datetime", "timestamp", "time":
		return appendQuoted(b, v)
	}
	if c.Charset != "" && c.Charset != "binary" {
		b = append(b, '_')
		b = append(b, c.Charset...)
		if escapeSafe[c.Charset] {
			return appendQuoted(b, v)
		}
		b = append(b, ' ')
	}
	return appendHex(b, v)
}

// escapeSafe are the character sets whose multi-byte characters never
// hold the bytes of a quote or a backslash.
var escapeSafe = map[string]bool{
	"utf8mb4": true, "utf8mb3": true, "utf8": true, "latin1": true, "latin2": true,
	"ascii": true, "ucs2": false, "utf16": false, "utf32": false,
}

func appendHex(b, v []byte) []byte {
	b = append(b, "X'"...)
	b = hex.AppendEncode(b, v)
	return append(b, '\'')
}

// isNumber reports whether v is a plain number literal.
func isNumber(v []byte) bool {
	if len(v) == 0 {
		return false
	}
	for _, c := range v {
		switch {
		case c >= '0' && c <= '9', c == '-', c == '+', c == '.', c == 'e', c == 'E':
		default:
			return false
		}
	}
	return true
}

// appendQuoted appends v as a quoted string literal, escaping what needs
// it (the sessions this package opens never set NO_BACKSLASH_ESCAPES).
func appendQuoted(b, v []byte) []byte {
	b = append(b, '\'')
	for _, c := range v {
		switch c {
		case '\'', '\\':
			b = append(b, '\\', c)
		case 0:
			b = append(b, '\\', '0')
		default:
			b = append(b, c)
		}
	}
	return append(b, '\'')
}

// sqlString quotes s as a string literal.
func sqlString(s string) string { return string(appendQuoted(nil, []byte(s))) }

// quoteIdent quotes a table or column name.
func quoteIdent(s string) string {
	return "`" + strings.ReplaceAll(s, "`", "``") + "`"
}
