package workflow

import (
	"strings"
	"testing"

	"github.com/mosaicdb/mosaic/keyrange"
	"github.com/mosaicdb/mosaic/proto/vschemapb"
)

func TestCheckTiling(t *testing.T) {
	for _, c := range []struct {
		shards []string
		covers string
		err    string
	}{
		{[]string{"-40", "40-80", "80-c0", "c0-"}, "-", ""},
		{[]string{"80-c0", "-40", "c0-", "40-80"}, "-", ""},
		{[]string{"0"}, "-", ""},
		{[]string{"-80"}, "-80", ""},
		{[]string{"40-80", "-40"}, "-80", ""},
		{[]string{"-40", "30-80"}, "", "overlap"},
		{[]string{"-40", "50-"}, "", "gap"},
		{[]string{"-", "80-"}, "", "overlap"},
		{[]string{"-80", "-80"}, "", "twice"},
		{[]string{"zz"}, "", "invalid"},
		{nil, "", "no target"},
	} {
		kr, err := checkTiling("target", c.shards)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%v: err %v, want %q", c.shards, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", c.shards, err)
			continue
		}
		want, _ := keyrange.Parse(c.covers)
		if !keyrange.Equal(kr, want) {
			t.Errorf("%v covers %s, want %s", c.shards, keyrange.String(kr), c.covers)
		}
	}
}

func TestTableRules(t *testing.T) {
	vs := &vschemapb.Keyspace{Sharded: true,
		Vindexes: map[string]*vschemapb.Vindex{"h": {Type: "hash"}, "x": {Type: "xxhash"}},
		Tables: map[string]*vschemapb.Table{
			"customer":  {ColumnVindexes: []*vschemapb.ColumnVindex{{Column: "id", Name: "h"}, {Column: "email", Name: "x"}}},
			"Names":     {ColumnVindexes: []*vschemapb.ColumnVindex{{Columns: []string{"name"}, Name: "x"}}},
			"countries": {Type: "reference"},
			"config":    {Pinned: "80"},
		}}
	rules, err := tableRules(vs, []string{"customer", "names", "countries", "config"})
	if err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, r := range rules {
		got = append(got, r.String())
	}
	if rules[0].VindexType != "hash" || rules[0].VindexColumn != "id" || rules[1].VindexType != "xxhash" || rules[1].VindexColumn != "name" ||
		!rules[2].Reference || string(rules[3].Pinned) != "\x80" {
		t.Fatalf("rules: %v", got)
	}
	if _, err := tableRules(vs, []string{"customer", "orphan"}); err == nil || !strings.Contains(err.Error(), "orphan is not in the VSchema") {
		t.Fatalf("a table missing from the VSchema: %v", err)
	}
	vs.Tables["seq"] = &vschemapb.Table{Type: "sequence"}
	vs.Tables["plain"] = &vschemapb.Table{}
	_, err = tableRules(vs, []string{"seq", "plain"})
	if err == nil || !strings.Contains(err.Error(), "seq is a sequence") || !strings.Contains(err.Error(), "plain has no primary vindex") {
		t.Fatalf("sequence and vindex-less tables: %v", err)
	}
}
