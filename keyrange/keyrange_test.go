package keyrange

import (
	"reflect"
	"testing"
)

func TestParseAndContains(t *testing.T) {
	cases := []struct {
		shard string
		id    []byte
		want  bool
	}{
		{"0", []byte{0xff}, true},
		{"-80", []byte{0x7f, 0xff}, true},
		{"-80", []byte{0x80}, false},
		{"80-", []byte{0x80}, true},
		{"80-", []byte{0x7f}, false},
		{"40-80", []byte{0x40, 0, 0, 0, 0, 0, 0, 0}, true},
		{"40-80", []byte{0x3f, 0xff}, false},
		{"40-80", []byte{0x80, 0, 0, 0, 0, 0, 0, 0}, false},
	}
	for _, c := range cases {
		kr, err := Parse(c.shard)
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.shard, err)
		}
		if got := Contains(kr, c.id); got != c.want {
			t.Errorf("Contains(%q, %x) = %v, want %v", c.shard, c.id, got, c.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, bad := range []string{"80", "zz-", "80-40", "80-80", "x"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
}

func TestIntersectAndEqual(t *testing.T) {
	a, _ := Parse("-80")
	b, _ := Parse("40-c0")
	c, _ := Parse("80-")
	if !Intersect(a, b) || !Intersect(b, c) || Intersect(a, c) {
		t.Fatalf("intersect wrong")
	}
	full, _ := Parse("0")
	dash, _ := Parse("-")
	if !Equal(full, dash) || Equal(a, c) {
		t.Fatalf("equal wrong")
	}
}

func TestSplitAndSort(t *testing.T) {
	got, err := Split(4)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"-40", "40-80", "80-c0", "c0-"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Split(4) = %v", got)
	}
	names := []string{"c0-", "80-c0", "-40", "40-80"}
	SortShardNames(names)
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("sorted = %v", names)
	}
	if _, err := Split(3); err == nil {
		t.Fatal("Split(3) succeeded")
	}
}
