package sqltypes

import (
	"errors"
	"fmt"
)

// nullByte marks a NULL column in a text-protocol row.
const nullByte = 0xfb

// ErrBadRow is returned for a row payload that does not hold the expected
// number of length-encoded columns.
var ErrBadRow = errors.New("malformed text-protocol row")

// DecodeRow splits a text-protocol row payload into n cells. A NULL column
// is a nil cell; an empty string is a non-nil empty cell. Cells alias raw.
func DecodeRow(raw []byte, n int) ([][]byte, error) {
	cells := make([][]byte, n)
	pos := 0
	for i := 0; i < n; i++ {
		if pos >= len(raw) {
			return nil, fmt.Errorf("%w: %d columns, want %d", ErrBadRow, i, n)
		}
		if raw[pos] == nullByte {
			pos++
			continue
		}
		l, w := lenEnc(raw[pos:])
		if w == 0 || pos+w+int(l) > len(raw) || l > uint64(len(raw)) {
			return nil, fmt.Errorf("%w: column %d", ErrBadRow, i)
		}
		pos += w
		cells[i] = raw[pos : pos+int(l) : pos+int(l)]
		pos += int(l)
	}
	if pos != len(raw) {
		return nil, fmt.Errorf("%w: %d trailing bytes after %d columns", ErrBadRow, len(raw)-pos, n)
	}
	return cells, nil
}

func lenEnc(b []byte) (uint64, int) {
	switch {
	case b[0] < 0xfb:
		return uint64(b[0]), 1
	case b[0] == 0xfc:
		if len(b) < 3 {
			return 0, 0
		}
		return uint64(b[1]) | uint64(b[2])<<8, 3
	case b[0] == 0xfd:
		if len(b) < 4 {
			return 0, 0
		}
		return uint64(b[1]) | uint64(b[2])<<8 | uint64(b[3])<<16, 4
	case b[0] == 0xfe:
		if len(b) < 9 {
			return 0, 0
		}
		var v uint64
		for i := 0; i < 8; i++ {
			v |= uint64(b[1+i]) << (8 * i)
		}
		return v, 9
	}
	return 0, 0
}

// EncodeRow builds a text-protocol row payload from cells (nil is NULL).
func EncodeRow(cells [][]byte) []byte {
	n := 0
	for _, c := range cells {
		n += len(c) + 9
	}
	out := make([]byte, 0, n)
	for _, c := range cells {
		if c == nil {
			out = append(out, nullByte)
			continue
		}
		out = appendLenEnc(out, uint64(len(c)))
		out = append(out, c...)
	}
	return out
}

func appendLenEnc(b []byte, v uint64) []byte {
	switch {
	case v < 0xfb:
		return append(b, byte(v))
	case v < 1<<16:
		return append(b, 0xfc, byte(v), byte(v>>8))
	case v < 1<<24:
		return append(b, 0xfd, byte(v), byte(v>>8), byte(v>>16))
	}
	return append(b, 0xfe, byte(v), byte(v>>8), byte(v>>16), byte(v>>24), byte(v>>32), byte(v>>40), byte(v>>48), byte(v>>56))
}
