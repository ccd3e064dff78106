package vrepl

import "testing"

func TestPosition(t *testing.T) {
	p := MustParsePosition("1-102-3,0-101-7")
	if got := p.String(); got != "0-101-7,1-102-3" {
		t.Fatalf("String = %q", got)
	}
	for _, c := range []struct {
		a, b    string
		atLeast bool
	}{
		{"0-101-7", "0-101-7", true},
		{"0-101-8", "0-101-7", true},
		{"0-101-6", "0-101-7", false},
		// Another server of the domain after a failover: sequence numbers
		// decide.
		{"0-102-9", "0-101-7", true},
		{"0-101-9", "0-101-7,1-101-1", false},
		{"0-101-9,1-101-1", "0-101-7", true},
		{"0-101-1", "", true},
		{"", "0-101-1", false},
	} {
		if got := MustParsePosition(c.a).AtLeast(MustParsePosition(c.b)); got != c.atLeast {
			t.Errorf("%q.AtLeast(%q) = %v, want %v", c.a, c.b, got, c.atLeast)
		}
	}
	q := p.With(GTID{Domain: 0, Server: 103, Seq: 8})
	if q.String() != "0-103-8,1-102-3" || p.String() != "0-101-7,1-102-3" {
		t.Fatalf("With: %q (p %q)", q, p)
	}
	for _, bad := range []string{"0-1", "a-b-c", "0-1-2,0-1-3"} {
		if _, err := ParsePosition(bad); err == nil {
			t.Errorf("ParsePosition(%q) succeeded", bad)
		}
	}
	if !MustParsePosition("").IsZero() || p.IsZero() {
		t.Fatal("IsZero")
	}
}
