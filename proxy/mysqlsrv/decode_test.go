package mysqlsrv

import (
	"testing"
)

func TestReadLenEncInt(t *testing.T) {
	good := []struct {
		in []byte
		v  uint64
		n  int
	}{
		{[]byte{0}, 0, 1},
		{[]byte{250, 9}, 250, 1},
		{[]byte{0xfc, 0x01, 0x02}, 0x0201, 3},
		{[]byte{0xfd, 1, 2, 3, 4}, 0x030201, 4},
		{[]byte{0xfe, 1, 0, 0, 0, 0, 0, 0, 0}, 1, 9},
		{[]byte{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 1<<64 - 1, 9},
	}
	for _, c := range good {
		v, n, ok := ReadLenEncInt(c.in)
		if !ok || v != c.v || n != c.n {
			t.Errorf("readLenEncInt(% x) = %d, %d, %v; want %d, %d", c.in, v, n, ok, c.v, c.n)
		}
	}
	for _, in := range [][]byte{nil, {0xfb}, {0xff}, {0xfc}, {0xfc, 1}, {0xfd, 1, 2}, {0xfe}, {0xfe, 1, 2, 3, 4, 5, 6, 7}} {
		if v, n, ok := ReadLenEncInt(in); ok {
			t.Errorf("readLenEncInt(% x) = %d, %d, ok", in, v, n)
		}
	}
}

func TestReadLenEncString(t *testing.T) {
	s, n, ok := ReadLenEncString([]byte{3, 'a', 'b', 'c', 'd'})
	if !ok || string(s) != "abc" || n != 4 {
		t.Fatalf("got %q %d %v", s, n, ok)
	}
	if cap(s) != 3 {
		t.Errorf("the string's capacity %d reaches past it", cap(s))
	}
	// The lengths that crashed the gate in issue 12, and their kin.
	for _, in := range [][]byte{
		{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 'x'},
		{0xfe},
		{0xfc, 0x01},
		{0xfc, 0x01, 0x00},
		{5, 'a', 'b'},
		{0xfb},
		{0xff, 1},
		nil,
	} {
		if s, n, ok := ReadLenEncString(in); ok {
			t.Errorf("readLenEncString(% x) = %q, %d, ok", in, s, n)
		}
	}
}

func TestCheckConnectAttrs(t *testing.T) {
	attrs := AppendLenEncString(AppendLenEncString(nil, "_client_name"), "libmariadb")
	attrs = AppendLenEncString(AppendLenEncString(attrs, "_pid"), "42")
	good := AppendLenEncInt(nil, uint64(len(attrs)))
	good = append(good, attrs...)
	if !CheckConnectAttrs(good) {
		t.Fatal("well-formed attributes refused")
	}
	bad := [][]byte{
		{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		append(AppendLenEncInt(nil, uint64(len(attrs)+1)), attrs...), // total past the end
		append([]byte{2}, 1, 'k'),                                    // a key without its value
		append([]byte{3}, 5, 'k', 'e'),                               // a key cut short
		{0xfb},
	}
	for _, b := range bad {
		if CheckConnectAttrs(b) {
			t.Errorf("checkConnectAttrs(% x) accepted", b)
		}
	}
}
