package router

import (
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proto/vschemapb"
)

// typedFake is shardFake sending its queries to tablets of one type.
type typedFake struct {
	shardFake
	tt topodatapb.TabletType
}

func (f *typedFake) TabletType() topodatapb.TabletType { return f.tt }

// During a reshard reads move first: a route run on replica tablets
// sends to the shards serving replica reads, one on the primary (and
// writes, DDL and locks from any session) to the primary's.
func TestRoutesByServedType(t *testing.T) {
	vs := &vschemapb.Keyspace{
		Sharded:  true,
		Vindexes: map[string]*vschemapb.Vindex{"hash": {Type: "hash"}},
		Tables: map[string]*vschemapb.Table{
			"c":      {ColumnVindexes: []*vschemapb.ColumnVindex{{Column: "id", Name: "hash"}}},
			"pinned": {Pinned: "c0"},
		},
	}
	r := New(DefaultConfig())
	r.SetVSchema(BuildVSchema([]KeyspaceInput{{
		Name: "customer", VSchema: vs, Shards: []string{"-80", "80-"},
		ReadShards: map[topodatapb.TabletType][]string{
			topodatapb.TabletType_REPLICA: {"80-", "-40", "40-80"},
			topodatapb.TabletType_RDONLY:  {"-80", "80-"},
		},
	}}, nil))
	ks := r.VSchema().Keyspaces["customer"]
	if got := ks.ServedShards(topodatapb.TabletType_REPLICA); !slices.Equal(got, []string{"-40", "40-80", "80-"}) {
		t.Fatalf("replica shards = %v", got)
	}
	if got := ks.ServedShards(topodatapb.TabletType_RDONLY); !slices.Equal(got, ks.Shards) {
		t.Fatalf("rdonly shards = %v", got)
	}
	shardsOf := func(sql string, tt topodatapb.TabletType) []string {
		t.Helper()
		p, bv, err := r.Plan(sql, "customer", 0)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		f := &typedFake{tt: tt}
		if _, err := p.Execute(t.Context(), f, bv); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		var shards []string
		for _, line := range f.lines {
			_, rest, _ := strings.Cut(line, " customer/")
			shard, _, _ := strings.Cut(rest, " ")
			shards = append(shards, shard)
		}
		sort.Strings(shards)
		return shards
	}
	for _, c := range []struct {
		sql  string
		tt   topodatapb.TabletType
		want []string
	}{
		{"select * from c", topodatapb.TabletType_PRIMARY, []string{"-80", "80-"}},
		{"select * from c", topodatapb.TabletType_REPLICA, []string{"-40", "40-80", "80-"}},
		{"select * from c", topodatapb.TabletType_RDONLY, []string{"-80", "80-"}},
		{"select * from pinned", topodatapb.TabletType_PRIMARY, []string{"80-"}},
		{"select * from pinned", topodatapb.TabletType_REPLICA, []string{"80-"}},
		{"select 1 from dual", topodatapb.TabletType_REPLICA, []string{"-40"}},
		{"select 1 from dual", topodatapb.TabletType_PRIMARY, []string{"-80"}},
		// DDL goes to the primary's shards whatever the session's type.
		{"alter table c add column x int", topodatapb.TabletType_REPLICA, []string{"-80", "80-"}},
	} {
		if got := shardsOf(c.sql, c.tt); !slices.Equal(got, c.want) {
			t.Errorf("%s on %v: shards %v, want %v", c.sql, c.tt, got, c.want)
		}
	}
	// A point read lands on the shard of its keyspace id in each set.
	for id := 1; id <= 40; id++ {
		sql := "select * from c where id = " + strconv.Itoa(id)
		p := shardsOf(sql, topodatapb.TabletType_PRIMARY)
		rep := shardsOf(sql, topodatapb.TabletType_REPLICA)
		if len(p) != 1 || len(rep) != 1 {
			t.Fatalf("%s: primary %v, replica %v", sql, p, rep)
		}
		if p[0] == "80-" && rep[0] != "80-" || p[0] == "-80" && rep[0] != "-40" && rep[0] != "40-80" {
			t.Fatalf("%s: primary shard %s, replica shard %s: not the same keyspace id", sql, p[0], rep[0])
		}
	}
}
