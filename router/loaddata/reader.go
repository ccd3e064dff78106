package loaddata

import (
	"bufio"
	"io"
)

// Field is one field of a row: its value after unescaping, or NULL.
type Field struct {
	Value []byte
	Null  bool
}

// Reader reads rows from a LOAD DATA file in a Format, as mysqld does.
type Reader struct {
	r *source
	f Format
	// buf holds the fields of the row Next returned last.
	buf    []byte
	fields []Field
	line   uint64
	eof    bool
}

// NewReader returns a Reader of r; f must pass Validate.
func NewReader(r io.Reader, f Format) *Reader {
	return &Reader{r: &source{r: bufio.NewReaderSize(r, 64<<10)}, f: f}
}

// Line is the number of rows Next has returned so far (the current row's
// number, counting from 1, right after Next).
func (r *Reader) Line() uint64 { return r.line }

// SkipLines skips n lines, as IGNORE n LINES: up to and including the
// n-th line terminator, an escaped byte never ending a line (enclosures
// are not looked at, as in mysqld).
func (r *Reader) SkipLines(n uint64) error {
	for ; n > 0; n-- {
		for {
			c, err := r.r.ReadByte()
			if err == io.EOF {
				r.eof = true
				return nil
			}
			if err != nil {
				return err
			}
			if r.f.HasEscape && c == r.f.Escape {
				if _, err := r.r.ReadByte(); err == io.EOF {
					r.eof = true
					return nil
				} else if err != nil {
					return err
				}
				continue
			}
			if c == r.f.LineTerm[0] {
				ok, err := r.match(r.f.LineTerm)
				if err != nil {
					return err
				}
				if ok {
					break
				}
			}
		}
	}
	return nil
}

// Next returns the next row's fields, or io.EOF after the last row. The
// fields and their values are valid until the next call.
func (r *Reader) Next() ([]Field, error) {
	if r.eof {
		return nil, io.EOF
	}
	if r.f.LineStart != "" {
		found, err := r.findLineStart()
		if err != nil {
			return nil, err
		}
		if !found {
			r.eof = true
			return nil, io.EOF
		}
	}
	r.buf = r.buf[:0]
	r.fields = r.fields[:0]
	type span struct {
		start, end int
		null       bool
	}
	var spans []span
	for {
		start := len(r.buf)
		null, endLine, ok, err := r.readField()
		if err != nil {
			return nil, err
		}
		if !ok {
			if len(spans) > 0 {
				// The file ends after a field terminator: the row ends
				// there, its other columns get their defaults.
				break
			}
			// EOF before the row's first field: no more rows.
			r.eof = true
			return nil, io.EOF
		}
		spans = append(spans, span{start, len(r.buf), null})
		if endLine {
			break
		}
	}
	for _, s := range spans {
		r.fields = append(r.fields, Field{Value: r.buf[s.start:s.end:s.end], Null: s.null})
	}
	r.line++
	return r.fields, nil
}

// findLineStart skips up to and past the next LINES STARTING BY prefix;
// false at EOF.
func (r *Reader) findLineStart() (bool, error) {
	p := r.f.LineStart
	for {
		c, err := r.r.ReadByte()
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if c != p[0] {
			continue
		}
		ok, err := r.match(p)
		if err != nil {
			return false, err
		}
		if ok {
			return true, nil
		}
	}
}

// match reports whether the bytes after a byte equal to term[0] are the
// rest of term, consuming them if so.
func (r *Reader) match(term string) (bool, error) {
	for i := 1; i < len(term); i++ {
		c, err := r.r.ReadByte()
		if err != nil && err != io.EOF {
			return false, err
		}
		if err == io.EOF || c != term[i] {
			if err == nil {
				r.r.push(c)
			}
			for j := i - 1; j >= 1; j-- {
				r.r.push(term[j])
			}
			return false, nil
		}
	}
	return true, nil
}

// source is a byte reader that takes back any number of bytes, as
// mysqld's reader does when a terminator turns out not to be one.
type source struct {
	r       *bufio.Reader
	pending []byte // a stack: the last pushed is read first
}

func (s *source) ReadByte() (byte, error) {
	if n := len(s.pending); n > 0 {
		c := s.pending[n-1]
		s.pending = s.pending[:n-1]
		return c, nil
	}
	return s.r.ReadByte()
}

func (s *source) push(c byte) { s.pending = append(s.pending, c) }

func unescape(c byte) byte {
	switch c {
	case 'n':
		return '\n'
	case 't':
		return '\t'
	case 'r':
		return '\r'
	case 'b':
		return '\b'
	case '0':
		return 0
	case 'Z':
		return 0x1a
	}
	return c
}

// readField appends one field to r.buf. ok is false at EOF before any
// byte of the field (no field); endLine says the line (or file) ended
// with it.
func (r *Reader) readField() (null, endLine, ok bool, err error) {
	f := &r.f
	start := len(r.buf)
	c, err := r.r.ReadByte()
	if err == io.EOF {
		return false, true, false, nil
	}
	if err != nil {
		return false, false, false, err
	}
	enclosed := f.HasEnclosed && c == f.Enclosed
	if !enclosed {
		r.r.push(c)
	}
	foundNull := false
	closedEnclosure := false
	done := func(eol bool) (bool, bool, bool, error) {
		v := r.buf[start:]
		if !closedEnclosure && f.HasEnclosed && string(v) == "NULL" {
			r.buf = r.buf[:start]
			return true, eol, true, nil
		}
		if len(v) == 1 && foundNull {
			r.buf = r.buf[:start]
			return true, eol, true, nil
		}
		return false, eol, true, nil
	}
	for {
		c, err := r.r.ReadByte()
		if err == io.EOF {
			// An enclosure never closed keeps its opening byte, as in mysqld.
			if enclosed {
				r.buf = append(r.buf[:start], append([]byte{f.Enclosed}, r.buf[start:]...)...)
				enclosed = false
			}
			r.eof = true
			return done(true)
		}
		if err != nil {
			return false, false, false, err
		}
		if f.HasEscape && c == f.Escape {
			c2, err := r.r.ReadByte()
			if err == io.EOF {
				r.buf = append(r.buf, f.Escape)
				if enclosed {
					r.buf = append(r.buf[:start], append([]byte{f.Enclosed}, r.buf[start:]...)...)
					enclosed = false
				}
				r.eof = true
				return done(true)
			}
			if err != nil {
				return false, false, false, err
			}
			if !f.HasEnclosed || f.Escape != f.Enclosed || c2 == f.Escape {
				if c2 == 'N' {
					foundNull = true
				}
				r.buf = append(r.buf, unescape(c2))
				continue
			}
			// ESCAPED BY equal to ENCLOSED BY: treat it as an enclosure.
			r.r.push(c2)
		}
		if !enclosed && c == f.LineTerm[0] {
			m, err := r.match(f.LineTerm)
			if err != nil {
				return false, false, false, err
			}
			if m {
				return done(true)
			}
		}
		if enclosed && c == f.Enclosed {
			c2, err := r.r.ReadByte()
			if err == io.EOF {
				r.eof = true
				closedEnclosure = true
				return done(true)
			}
			if err != nil {
				return false, false, false, err
			}
			if c2 == f.Enclosed {
				r.buf = append(r.buf, c2)
				continue
			}
			if c2 == f.LineTerm[0] {
				m, err := r.match(f.LineTerm)
				if err != nil {
					return false, false, false, err
				}
				if m {
					closedEnclosure = true
					return done(true)
				}
			}
			if c2 == f.FieldTerm[0] {
				m, err := r.match(f.FieldTerm)
				if err != nil {
					return false, false, false, err
				}
				if m {
					closedEnclosure = true
					return done(false)
				}
			}
			r.r.push(c2)
			r.buf = append(r.buf, c)
			continue
		}
		if !enclosed && c == f.FieldTerm[0] {
			m, err := r.match(f.FieldTerm)
			if err != nil {
				return false, false, false, err
			}
			if m {
				return done(false)
			}
		}
		r.buf = append(r.buf, c)
	}
}
