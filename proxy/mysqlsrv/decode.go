package mysqlsrv

import (
	"bytes"
	"encoding/binary"

	"github.com/mosaicdb/mosaic/sqlerr"
)

// Readers of the protocol's encodings in what a client sent. Every one
// checks that the bytes it reads are there and says so with ok instead of
// reading past the end: a client's packet is never trusted to be well
// formed (go-mysql's mysql.LengthEncodedInt indexes past a cut value and
// panics, so the gate does not use it on client input).

// ReadLenEncInt reads the length-encoded integer that starts b: its value
// and the bytes it took. ok is false when b is empty or cut short, and for
// 0xfb (NULL) and 0xff, which are no integer.
func ReadLenEncInt(b []byte) (v uint64, n int, ok bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	switch b[0] {
	case 0xfb, 0xff:
		return 0, 0, false
	case 0xfc:
		if len(b) < 3 {
			return 0, 0, false
		}
		return uint64(binary.LittleEndian.Uint16(b[1:])), 3, true
	case 0xfd:
		if len(b) < 4 {
			return 0, 0, false
		}
		return uint64(b[1]) | uint64(b[2])<<8 | uint64(b[3])<<16, 4, true
	case 0xfe:
		if len(b) < 9 {
			return 0, 0, false
		}
		return binary.LittleEndian.Uint64(b[1:]), 9, true
	}
	return uint64(b[0]), 1, true
}

// ReadLenEncString reads the length-encoded string that starts b: the
// string (a slice of b) and the bytes it took. ok is false when the length
// is malformed or claims more bytes than b holds.
func ReadLenEncString(b []byte) (s []byte, n int, ok bool) {
	l, k, ok := ReadLenEncInt(b)
	if !ok || l > uint64(len(b)-k) {
		return nil, 0, false
	}
	end := k + int(l)
	return b[k:end:end], end, true
}

// CutNul splits b at its first NUL byte.
func CutNul(b []byte) (before, after []byte, ok bool) {
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return nil, b, false
	}
	return b[:i], b[i+1:], true
}

// CheckConnectAttrs checks the connection attributes that end a
// handshake response or a COM_CHANGE_USER: a length-encoded total, then
// that many bytes of pairs of length-encoded strings (key, value). The
// gate has no use for them, but attributes that do not add up make the
// packet malformed, as mysqld sees it.
func CheckConnectAttrs(b []byte) bool {
	total, k, ok := ReadLenEncInt(b)
	if !ok || total > uint64(len(b)-k) {
		return false
	}
	p := b[k : k+int(total)]
	for len(p) > 0 {
		for range 2 { // key, value
			_, n, ok := ReadLenEncString(p)
			if !ok {
				return false
			}
			p = p[n:]
		}
	}
	return true
}

// ErrMalformed is mysqld's error for a malformed packet of command what.
func ErrMalformed(what string) error {
	return sqlerr.New(sqlerr.ERMallformedPacket, "Malformed communication packet (%s)", what)
}
