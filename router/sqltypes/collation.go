package sqltypes

import (
	"bytes"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/collate"
	"golang.org/x/text/language"
	"golang.org/x/text/unicode/norm"
)

// collationKind says how a collation compares text.
type collationKind int

const (
	collBinary    collationKind = iota // bytes, no padding (charset binary)
	collBin                            // bytes, trailing spaces ignored (_bin)
	collGeneralCI                      // our general_ci weights
	collUnicodeCI                      // CLDR root, primary strength
)

// collationKinds maps the collation ids MariaDB and MySQL send to their
// kind. Ids not listed compare as collUnicodeCI, which is case and accent
// insensitive: the common default for *_ci collations.
var collationKinds = map[uint32]collationKind{
	63:  collBinary,
	8:   collGeneralCI, // latin1_swedish_ci
	11:  collGeneralCI, // ascii_general_ci
	33:  collGeneralCI, // utf8mb3_general_ci
	45:  collGeneralCI, // utf8mb4_general_ci
	48:  collGeneralCI, // latin1_general_ci
	47:  collBin,       // latin1_bin
	46:  collBin,       // utf8mb4_bin
	65:  collBin,       // ascii_bin
	83:  collBin,       // utf8mb3_bin
	192: collUnicodeCI, // utf8mb3_unicode_ci
	224: collUnicodeCI, // utf8mb4_unicode_ci
	246: collUnicodeCI, // utf8mb4_unicode_520_ci
	255: collUnicodeCI, // utf8mb4_0900_ai_ci (MySQL)
}

func kindOf(collation uint32) collationKind {
	if k, ok := collationKinds[collation]; ok {
		return k
	}
	return collUnicodeCI
}

// textCollator compares and keys text of one collation. It is not safe for
// concurrent use (the CLDR collator keeps a buffer).
type textCollator struct {
	kind collationKind
	cldr *collate.Collator
	buf  collate.Buffer
}

func newTextCollator(collation uint32) *textCollator {
	c := &textCollator{kind: kindOf(collation)}
	if c.kind == collUnicodeCI {
		c.cldr = collate.New(language.Und, collate.IgnoreCase, collate.IgnoreDiacritics, collate.IgnoreWidth)
	}
	return c
}

func trimSpaces(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == ' ' {
		b = b[:len(b)-1]
	}
	return b
}

func (c *textCollator) compare(a, b []byte) int {
	switch c.kind {
	case collBinary:
		return bytes.Compare(a, b)
	case collBin:
		return bytes.Compare(trimSpaces(a), trimSpaces(b))
	case collGeneralCI:
		return compareGeneralCI(trimSpaces(a), trimSpaces(b))
	}
	return c.cldr.Compare(trimSpaces(a), trimSpaces(b))
}

// key returns bytes that are equal for two values exactly when the
// collation says the values are equal. The result may alias c's buffer
// until the next call; callers copy it.
func (c *textCollator) key(a []byte) []byte {
	switch c.kind {
	case collBinary:
		return a
	case collBin:
		return trimSpaces(a)
	case collGeneralCI:
		return generalCIKey(trimSpaces(a))
	}
	c.buf.Reset()
	return c.cldr.Key(&c.buf, trimSpaces(a))
}

// GeneralCIWeight is the weight of one character under our general_ci:
// characters outside the BMP weigh as U+FFFD; a character that decomposes
// (NFD) into a base and combining marks weighs as its base; the result is
// upper-cased; ß weighs as S. (Hangul syllables decompose into jamo, not
// marks: they keep their own weight, as in MariaDB.)
func GeneralCIWeight(r rune) rune {
	if r < utf8.RuneSelf {
		if 'a' <= r && r <= 'z' {
			return r - 'a' + 'A'
		}
		return r
	}
	if r > 0xFFFF {
		return 0xFFFD
	}
	if r == 'ß' {
		return 'S'
	}
	var tmp [utf8.UTFMax]byte
	n := utf8.EncodeRune(tmp[:], r)
	d := norm.NFD.Bytes(tmp[:n])
	base, size := utf8.DecodeRune(d)
	for rest := d[size:]; len(rest) > 0; {
		m, sz := utf8.DecodeRune(rest)
		if !unicode.Is(unicode.Mn, m) {
			base = r
			break
		}
		rest = rest[sz:]
	}
	return unicode.ToUpper(base)
}

func compareGeneralCI(a, b []byte) int {
	for len(a) > 0 && len(b) > 0 {
		ra, na := utf8.DecodeRune(a)
		rb, nb := utf8.DecodeRune(b)
		wa, wb := GeneralCIWeight(ra), GeneralCIWeight(rb)
		if wa != wb {
			if wa < wb {
				return -1
			}
			return 1
		}
		a, b = a[na:], b[nb:]
	}
	switch {
	case len(a) > 0:
		return 1
	case len(b) > 0:
		return -1
	}
	return 0
}

func generalCIKey(a []byte) []byte {
	out := make([]byte, 0, 2*len(a))
	for len(a) > 0 {
		r, n := utf8.DecodeRune(a)
		w := GeneralCIWeight(r)
		out = append(out, byte(w>>8), byte(w))
		a = a[n:]
	}
	return out
}
