package sqltext

import "strings"

// In big5, cp932, gbk and sjis the second byte of a two-byte character
// can be an ASCII byte: '\' (0x5c), '`' (0x60), '|', '@' and others.
// mysqld lexes a client's text in its character set and reads such a
// character whole; the gate's parser reads bytes, so it would take the
// second byte for what it is in ASCII: a '\' that escapes the quote after
// it, a '`' that ends a name. The statement the gate planned would then
// not be the one the client sent, the classic way to smuggle a quote past
// client-side escaping. The gate refuses such text instead (a refusal is
// better than a wrong statement); the same values travel safely as
// parameters of prepared statements, which the gate never lexes.

// asciiTrailCharsets are the character sets MariaDB accepts from clients
// whose multi-byte characters can end in an ASCII byte.
var asciiTrailCharsets = map[string]bool{"big5": true, "cp932": true, "gbk": true, "sjis": true}

// HasASCIITrailBytes reports whether clients in character set cs can
// send characters whose second byte is ASCII.
func HasASCIITrailBytes(cs string) bool { return asciiTrailCharsets[strings.ToLower(cs)] }

// isLead reports whether c starts a two-byte character in cs.
func isLead(cs string, c byte) bool {
	switch cs {
	case "sjis", "cp932":
		return c >= 0x81 && c <= 0x9f || c >= 0xe0 && c <= 0xfc
	default: // big5, gbk
		return c >= 0x81 && c <= 0xfe
	}
}

// MisreadMultibyte reports whether the gate's byte-wise lexer would read
// sql, sent in character set cs, differently from mysqld: whether a
// two-byte character's ASCII second byte is a quote's escape ('\' in a
// string, when backslashes escape), ends a quoted name ('`'), or is
// punctuation outside quotes (where mysqld reads the character as part of
// a name). Comments are read as mysqld reads them; executable comments
// (/*! ... */) as code. It returns false for character sets without
// such characters.
func MisreadMultibyte(sql, cs string, backslashEscapes bool) bool {
	cs = strings.ToLower(cs)
	if !asciiTrailCharsets[cs] {
		return false
	}
	const (
		code = iota
		squote
		dquote
		backtick
		lineComment
		blockComment
	)
	state := code
	n := len(sql)
	for i := 0; i < n; {
		c := sql[i]
		if isLead(cs, c) && i+1 < n {
			t := sql[i+1]
			switch state {
			case code:
				if t < 0x80 && !IsWordByte(t) {
					return true
				}
			case squote, dquote:
				if t == '\\' && backslashEscapes {
					return true
				}
			case backtick:
				if t == '`' {
					return true
				}
			}
			i += 2
			continue
		}
		switch state {
		case code:
			switch {
			case c == '\'':
				state = squote
			case c == '"':
				state = dquote
			case c == '`':
				state = backtick
			case c == '#' || isDashComment(sql, i):
				state = lineComment
			case c == '/' && i+1 < n && sql[i+1] == '*':
				// /*! and /*M! hold code; other comments do not.
				if i+2 < n && (sql[i+2] == '!' || sql[i+2] == 'M' && i+3 < n && sql[i+3] == '!') {
					i += 3
					continue
				}
				state = blockComment
				i += 2
				continue
			}
		case squote, dquote:
			quote := byte('\'')
			if state == dquote {
				quote = '"'
			}
			switch {
			case c == '\\' && backslashEscapes && i+1 < n:
				// mysqld escapes the whole character after the '\'.
				if isLead(cs, sql[i+1]) && i+2 < n {
					if sql[i+2] == '\\' {
						return true
					}
					i += 3
				} else {
					i += 2
				}
				continue
			case c == quote:
				if i+1 < n && sql[i+1] == quote {
					i += 2
					continue
				}
				state = code
			}
		case backtick:
			if c == '`' {
				if i+1 < n && sql[i+1] == '`' {
					i += 2
					continue
				}
				state = code
			}
		case lineComment:
			if c == '\n' {
				state = code
			}
		case blockComment:
			if c == '*' && i+1 < n && sql[i+1] == '/' {
				state = code
				i += 2
				continue
			}
		}
		i++
	}
	return false
}

// BackslashTrail reports whether text in character set cs holds a
// two-byte character whose second byte is '\': written into a quoted
// literal with backslash escapes, that byte would be doubled, and mysqld,
// reading the character whole, would take the added '\' as escaping what
// follows.
func BackslashTrail(text, cs string) bool {
	cs = strings.ToLower(cs)
	if !asciiTrailCharsets[cs] {
		return false
	}
	for i := 0; i+1 < len(text); i++ {
		if isLead(cs, text[i]) {
			if text[i+1] == '\\' {
				return true
			}
			i++
		}
	}
	return false
}
