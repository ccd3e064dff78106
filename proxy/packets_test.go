package proxy

import (
	"testing"
)

func TestParseUseTarget(t *testing.T) {
	cases := []struct {
		in, ks, shard string
		tt            string
		bad           bool
	}{
		{in: "commerce", ks: "commerce", tt: "PRIMARY"},
		{in: "commerce@replica", ks: "commerce", tt: "REPLICA"},
		{in: "customer:-80", ks: "customer", shard: "-80", tt: "PRIMARY"},
		{in: "customer:80-@rdonly", ks: "customer", shard: "80-", tt: "RDONLY"},
		{in: "customer@nosuch", bad: true},
		{in: ":-80", bad: true},
	}
	for _, c := range cases {
		ks, shard, tt, err := parseUseTarget(c.in)
		if c.bad {
			if err == nil {
				t.Errorf("%q: no error", c.in)
			}
			continue
		}
		if err != nil || ks != c.ks || shard != c.shard || tt.String() != c.tt {
			t.Errorf("%q = %q %q %v %v", c.in, ks, shard, tt, err)
		}
	}
}

func TestUseStatement(t *testing.T) {
	for in, want := range map[string]string{
		"use commerce":           "commerce",
		"USE `customer@replica`": "`customer@replica`",
		"  use customer:-80 ;":   "customer:-80",
	} {
		got, ok := useStatement(in)
		if !ok || got != want {
			t.Errorf("useStatement(%q) = %q %v, want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"user_table", "select 1", "used"} {
		if _, ok := useStatement(in); ok {
			t.Errorf("useStatement(%q) matched", in)
		}
	}
}
