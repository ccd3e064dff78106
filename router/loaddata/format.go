package loaddata

import (
	"errors"
	"strings"
)

// Format is the layout of a LOAD DATA file: its FIELDS and LINES clauses.
type Format struct {
	// FieldTerm separates fields ("\t" by default). It must not be empty:
	// fixed-width rows are not supported.
	FieldTerm string
	// Enclosed quotes fields (ENCLOSED BY; OPTIONALLY changes only how
	// files are written); 0 with HasEnclosed false for none.
	Enclosed    byte
	HasEnclosed bool
	// Escape starts an escape sequence ('\\' by default); HasEscape false
	// for ESCAPED BY ''.
	Escape    byte
	HasEscape bool
	// LineStart is a prefix each line starts with (LINES STARTING BY);
	// text before it is skipped, lines without it are skipped whole.
	LineStart string
	// LineTerm ends lines ("\n" by default). It must not be empty.
	LineTerm string
}

// DefaultFormat is LOAD DATA's format when the statement has no FIELDS or
// LINES clause; it is also the canonical format Writer writes.
func DefaultFormat() Format {
	return Format{FieldTerm: "\t", Escape: '\\', HasEscape: true, LineTerm: "\n"}
}

// Validate refuses the formats Reader cannot read.
func (f Format) Validate() error {
	if f.FieldTerm == "" {
		return errors.New("FIELDS TERMINATED BY '' (fixed-width rows)")
	}
	if f.LineTerm == "" {
		return errors.New("LINES TERMINATED BY ''")
	}
	return nil
}

// ASCIISafeCharset reports whether a character set (a LOAD DATA
// CHARACTER SET name, lower or upper case) never uses ASCII bytes inside
// a multi-byte character, so that terminators and escapes can be found
// byte by byte. "" (the database's default) is taken as safe.
func ASCIISafeCharset(cs string) bool {
	switch strings.ToLower(cs) {
	case "big5", "cp932", "gbk", "sjis", "ucs2", "utf16", "utf16le", "utf32", "gb18030":
		return false
	}
	return true
}
