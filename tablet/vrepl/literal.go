package vrepl

import (
	"encoding/hex"
	"strings"
)

// appendLiteral appends v, a value of column c in text form (nil for
// NULL), as a SQL literal that mysqld turns back into the same value:
// numbers as they are, character strings as hex with their character
// set's introducer (no conversion, no escaping), binary strings as hex,
// dates and times quoted.
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
		b = append(b, ' ')
	}
	return appendHex(b, v)
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
