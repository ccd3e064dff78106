package vindexes

import (
	"encoding/hex"
	"testing"
)

// TestPinnedValues pins the keyspace ids of sample values. These are the
// on-disk placement of rows: a failure here means rows would move. Never
// update them.
func TestPinnedValues(t *testing.T) {
	for _, c := range []struct {
		typ  string
		in   any
		want string
	}{
		{"hash", int64(0), "0000000000000000"},
		{"hash", int64(1), "b456bcfc34c2cb2c"},
		{"hash", int64(2), "3abf2a20650683e7"},
		{"hash", int64(42), "810879608e4259cc"},
		{"hash", int64(-1), "64b5720b4b825f21"},
		{"hash", uint64(18446744073709551615), "64b5720b4b825f21"},
		{"hash", "42", "810879608e4259cc"},
		{"hash", int64(1000000), "443b192cac3fa823"},
		{"numeric", int64(1), "0000000000000001"},
		{"numeric", int64(0x1122334455667788), "1122334455667788"},
		{"numeric", int64(-2), "fffffffffffffffe"},
		{"xxhash", int64(42), "6de6f5d076d742b9"},
		{"xxhash", "42", "6de6f5d076d742b9"},
		{"xxhash", "hello", "26c7827d889f6da3"},
		{"xxhash", "", "ef46db3751d8e999"},
		{"binary", "abc", "616263"},
		{"binary", int64(7), "37"},
		{"binary", []byte{0, 0xff}, "00ff"},
	} {
		v, err := New(c.typ, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := v.Map(c.in)
		if !ok {
			t.Errorf("%s(%v): not mapped", c.typ, c.in)
			continue
		}
		if hex.EncodeToString(got) != c.want {
			t.Errorf("%s(%#v) = %x, want %s", c.typ, c.in, got, c.want)
		}
	}
}

func TestUnmappable(t *testing.T) {
	for _, c := range []struct {
		typ string
		in  any
	}{
		{"hash", nil}, {"hash", 1.5}, {"hash", "abc"}, {"hash", "1.5"},
		{"numeric", nil}, {"xxhash", nil}, {"xxhash", 1.5}, {"binary", nil},
	} {
		v, _ := New(c.typ, nil)
		if _, ok := v.Map(c.in); ok {
			t.Errorf("%s(%#v) mapped, want not routable", c.typ, c.in)
		}
	}
	if _, err := New("lookup_fancy", nil); err == nil {
		t.Error("unknown type accepted")
	}
	if _, err := New("hash", map[string]string{"x": "y"}); err == nil {
		t.Error("parameter accepted")
	}
}

func TestMix64Bijective(t *testing.T) {
	seen := map[uint64]bool{}
	for i := uint64(0); i < 100000; i++ {
		h := Mix64(i)
		if seen[h] {
			t.Fatalf("collision at %d", i)
		}
		seen[h] = true
	}
}
