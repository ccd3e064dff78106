package sqltext

import "testing"

// TestMisreadMultibyte pins which gbk/sjis text the gate's byte-wise
// lexer would read differently from mysqld. 0xbf5c is a gbk character
// whose second byte is '\'; 0x8160 an sjis one ending in '`'; 0xb9e3 a gbk
// one with no ASCII byte.
func TestMisreadMultibyte(t *testing.T) {
	for _, c := range []struct {
		sql, cs string
		escapes bool
		misread bool
		why     string
	}{
		{"SELECT 'a\xbf\\' OR 1=1 -- '", "gbk", true, true, "a '\\' second byte escapes the closing quote"},
		{"SELECT 'a\xbf\\' OR 1=1 -- '", "gbk", false, false, "no backslash escapes: '\\' is a plain byte"},
		{"SELECT 'a\xbf\\' OR 1=1 -- '", "utf8mb4", true, false, "utf8mb4 has no ASCII second bytes"},
		{"SELECT 'a\xbf\\' OR 1=1 -- '", "latin1", true, false, "latin1 is one byte a character"},
		{"SELECT 'caf\xb9\xe3'", "gbk", true, false, "a character without ASCII bytes"},
		{"SELECT `a\xbf\\`", "gbk", true, false, "'\\' ends nothing in a quoted name"},
		{"SELECT `a\x81\x60` FROM t", "sjis", true, true, "a '`' second byte ends the quoted name"},
		{"SELECT 'a\x81\x60'", "sjis", true, false, "'`' in a string is a plain byte"},
		{"SELECT a\x81| FROM t", "gbk", true, true, "punctuation second byte in a bare name"},
		{"SELECT a\x81A FROM t", "gbk", true, false, "a letter second byte in a bare name"},
		{"SELECT 1 /* \xbf\\ */", "gbk", true, false, "in a comment"},
		{"SELECT 1 /*! + '\xbf\\' */", "gbk", true, true, "an executable comment is code"},
		{"SELECT 1 -- \xbf\\\nFROM t", "gbk", true, false, "in a line comment"},
		{"SELECT 'x\\\xbf\\'", "gbk", true, true, "an escaped character whose second byte is '\\'"},
		{"SELECT 'it''s \xb9\xe3' , \"q\\\"\"", "gbk", true, false, "doubled and escaped quotes"},
		{"SELECT '\xa1\\'", "sjis", true, false, "0xa1 is a one-byte katakana in sjis: the '\\' is an escape for both"},
		{"SELECT '\xa1\\'", "big5", true, true, "0xa1 leads a character in big5"},
	} {
		if got := MisreadMultibyte(c.sql, c.cs, c.escapes); got != c.misread {
			t.Errorf("%q in %s (escapes %v): misread %v, want %v: %s", c.sql, c.cs, c.escapes, got, c.misread, c.why)
		}
	}
	for _, c := range []struct {
		text, cs string
		want     bool
	}{
		{"a\xbf\\", "gbk", true},
		{"\xb9\xe3\\", "gbk", false},    // a character, then a real '\\'
		{"\xe4\xb8\xad\\", "gbk", true}, // valid UTF-8, yet 0xad5c in gbk
		{"\xe4\xb8\xad\\", "utf8mb4", false},
		{"\xa1\\", "sjis", false}, // one-byte katakana, then '\\'
		{"\x83\\", "sjis", true},  // the notorious ソ
	} {
		if got := BackslashTrail(c.text, c.cs); got != c.want {
			t.Errorf("BackslashTrail(%q, %s) = %v, want %v", c.text, c.cs, got, c.want)
		}
	}
	if !HasASCIITrailBytes("GBK") || HasASCIITrailBytes("ujis") {
		t.Error("HasASCIITrailBytes")
	}
}
