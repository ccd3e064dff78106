package operator

import (
	"fmt"
	"slices"
	"testing"

	"github.com/mosaicdb/mosaic/operator/api/v1alpha1"
)

func cluster(shards map[string]int32, cells ...string) *v1alpha1.MosaicCluster {
	c := &v1alpha1.MosaicCluster{}
	c.Name, c.Namespace = "demo", "ns"
	for _, cell := range cells {
		c.Spec.Cells = append(c.Spec.Cells, v1alpha1.Cell{Name: cell})
	}
	ks := v1alpha1.Keyspace{Name: "customer"}
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range shards {
			if !yield(k) {
				return
			}
		}
	}) {
		n := shards[name]
		ks.Shards = append(ks.Shards, v1alpha1.Shard{Name: name, Replicas: &n})
	}
	c.Spec.Keyspaces = []v1alpha1.Keyspace{ks}
	return c
}

// running is an observed tablet with a ready pod on template tmpl.
func running(uid uint32, cell, shard, tmpl string) Observed {
	return Observed{Tablet: Tablet{UID: uid, Cell: cell, Keyspace: "customer", Shard: shard}, HasPod: true, HasClaim: true, Ready: true, Template: tmpl}
}

func constTemplate(s string) func(Tablet) string { return func(Tablet) string { return s } }

func names(ts []Tablet) []string {
	var out []string
	for _, t := range ts {
		out = append(out, fmt.Sprintf("%s/%s %s", t.Keyspace, t.Shard, t.Alias()))
	}
	return out
}

func TestPlanNewShardsGetBlocksAndSpreadOverCells(t *testing.T) {
	c := cluster(map[string]int32{"-80": 2, "80-": 1}, "a", "b")
	p := MakePlan(c, nil, constTemplate("t1"), Topology{})
	want := []string{"customer/-80 a-100", "customer/-80 b-101", "customer/-80 a-102", "customer/80- a-200", "customer/80- b-201"}
	if got := names(p.Tablets); !slices.Equal(got, want) {
		t.Fatalf("tablets %v, want %v", got, want)
	}
	if len(p.Steps) != 0 {
		t.Fatalf("steps %v for tablets without pods", p.Steps)
	}
}

func TestPlanKeepsIdentityOfTabletsWithPodOrClaim(t *testing.T) {
	c := cluster(map[string]int32{"-80": 1}, "a", "b")
	// 100's pod was deleted (its claim is left), 101's claim was lost
	// (its pod is left): both keep their uid and cell.
	obs := []Observed{
		{Tablet: Tablet{UID: 100, Cell: "b", Keyspace: "customer", Shard: "-80"}, HasClaim: true},
		{Tablet: Tablet{UID: 101, Cell: "a", Keyspace: "customer", Shard: "-80"}, HasPod: true, Ready: true},
	}
	p := MakePlan(c, obs, constTemplate("t1"), Topology{})
	if got, want := names(p.Tablets), []string{"customer/-80 b-100", "customer/-80 a-101"}; !slices.Equal(got, want) {
		t.Fatalf("tablets %v, want %v", got, want)
	}
}

func TestPlanScaleUpUsesTheShardsBlock(t *testing.T) {
	c := cluster(map[string]int32{"-80": 3}, "a", "b")
	obs := []Observed{running(200, "a", "-80", "t1"), running(201, "b", "-80", "t1"), running(100, "a", "80-", "t1")}
	c.Spec.Keyspaces[0].Shards = append(c.Spec.Keyspaces[0].Shards, v1alpha1.Shard{Name: "80-", Replicas: new(int32(0))})
	p := MakePlan(c, obs, constTemplate("t1"), Topology{Known: true, Primaries: map[string]string{"customer/-80": "a-200", "customer/80-": "a-100"}})
	if got, want := names(p.Tablets), []string{"customer/-80 a-200", "customer/-80 b-201", "customer/-80 a-202", "customer/-80 b-203", "customer/80- a-100"}; !slices.Equal(got, want) {
		t.Fatalf("tablets %v, want %v", got, want)
	}
}

func TestPlanScaleDownNeverRemovesThePrimary(t *testing.T) {
	c := cluster(map[string]int32{"-80": 0}, "a")
	obs := []Observed{running(100, "a", "-80", "t1"), running(101, "a", "-80", "t1"), running(102, "a", "-80", "t1")}
	p := MakePlan(c, obs, constTemplate("t1"), Topology{Known: true, Primaries: map[string]string{"customer/-80": "a-102"}})
	if got, want := names(p.Remove), []string{"customer/-80 a-101", "customer/-80 a-100"}; !slices.Equal(got, want) {
		t.Fatalf("remove %v, want %v", got, want)
	}
	if got, want := names(p.Tablets), []string{"customer/-80 a-102"}; !slices.Equal(got, want) {
		t.Fatalf("keep %v, want %v", got, want)
	}
}

func TestPlanScaleDownWaitsForTopo(t *testing.T) {
	c := cluster(map[string]int32{"-80": 0}, "a")
	obs := []Observed{running(100, "a", "-80", "t1"), running(101, "a", "-80", "t1")}
	p := MakePlan(c, obs, constTemplate("t1"), Topology{})
	if len(p.Remove) != 0 || len(p.Tablets) != 2 {
		t.Fatalf("removed %v without knowing the primary", names(p.Remove))
	}
	if p.Waiting["customer/-80"] == "" {
		t.Fatal("no reason given for the wait")
	}
}

func TestPlanOrphansOfShardsGoneFromSpec(t *testing.T) {
	c := cluster(map[string]int32{"-80": 0}, "a")
	obs := []Observed{running(100, "a", "-80", "t1"), running(200, "a", "80-", "t1"), running(201, "a", "80-", "t1")}
	p := MakePlan(c, obs, constTemplate("t1"), Topology{Known: true, Primaries: map[string]string{"customer/-80": "a-100"}})
	if got, want := names(p.Orphans), []string{"customer/80- a-200", "customer/80- a-201"}; !slices.Equal(got, want) {
		t.Fatalf("orphans %v, want %v", got, want)
	}
	if len(p.Remove) != 0 {
		t.Fatalf("claims of orphans removed: %v", names(p.Remove))
	}
}

func TestPlanInitPrimaryOnceAllReady(t *testing.T) {
	c := cluster(map[string]int32{"-80": 1}, "a")
	obs := []Observed{running(100, "a", "-80", "t1"), running(101, "a", "-80", "t1")}
	obs[1].Ready = false
	topo := Topology{Known: true, Primaries: map[string]string{}}
	if p := MakePlan(c, obs, constTemplate("t1"), topo); len(p.Steps) != 0 {
		t.Fatalf("steps %v while a tablet is not ready", p.Steps)
	}
	obs[1].Ready = true
	p := MakePlan(c, obs, constTemplate("t1"), topo)
	if len(p.Steps) != 1 || p.Steps[0].String() != "init-primary customer/-80 a-100" {
		t.Fatalf("steps %v, want init-primary of a-100", p.Steps)
	}
}

// TestPlanRollingOrder runs a rolling change to the end: the plan's steps
// applied one by one (a rolled pod comes back ready on the new template, a
// reparent moves the primary) must roll every replica, then reparent,
// then roll the old primary.
func TestPlanRollingOrder(t *testing.T) {
	c := cluster(map[string]int32{"-80": 2}, "a", "b")
	obs := []Observed{running(100, "a", "-80", "old"), running(101, "b", "-80", "old"), running(102, "a", "-80", "old")}
	topo := Topology{Known: true, Primaries: map[string]string{"customer/-80": "a-100"}}
	var log []string
	for i := 0; i < 10; i++ {
		p := MakePlan(c, obs, constTemplate("new"), topo)
		if len(p.Steps) == 0 {
			break
		}
		s := p.Steps[0]
		log = append(log, s.String())
		for j := range obs {
			if obs[j].UID != s.Tablet.UID {
				continue
			}
			switch s.Kind {
			case RollPod:
				if obs[j].Alias() == topo.Primaries["customer/-80"] && len(obs) > 1 {
					t.Fatalf("rolled the primary %s while it had replicas", obs[j].Alias())
				}
				obs[j].Template = "new"
			case Reparent:
				topo.Primaries["customer/-80"] = obs[j].Alias()
			}
		}
	}
	want := []string{
		"roll-pod customer/-80 b-101",
		"roll-pod customer/-80 a-102",
		"reparent customer/-80 a-102",
		"roll-pod customer/-80 a-100",
	}
	if !slices.Equal(log, want) {
		t.Fatalf("steps\n%v\nwant\n%v", log, want)
	}
}

func TestPlanRollingWaitsForReadiness(t *testing.T) {
	c := cluster(map[string]int32{"-80": 1}, "a")
	obs := []Observed{running(100, "a", "-80", "old"), running(101, "a", "-80", "new")}
	obs[1].Ready = false
	p := MakePlan(c, obs, constTemplate("new"), Topology{Known: true, Primaries: map[string]string{"customer/-80": "a-100"}})
	if len(p.Steps) != 0 {
		t.Fatalf("steps %v while a tablet is not ready", p.Steps)
	}
}

func TestShardLabel(t *testing.T) {
	for in, want := range map[string]string{"-80": "min-80", "80-": "80-max", "0": "0", "40-80": "40-80", "-": "min-max"} {
		if got := shardLabel(in); got != want {
			t.Errorf("shardLabel(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPlanClaimBeingDeletedKeepsItsUID(t *testing.T) {
	c := cluster(map[string]int32{"-80": 1}, "a")
	obs := []Observed{
		running(100, "a", "-80", "t1"),
		{Tablet: Tablet{UID: 101, Cell: "a", Keyspace: "customer", Shard: "-80"}}, // claim terminating, no pod
	}
	p := MakePlan(c, obs, constTemplate("t1"), Topology{Known: true, Primaries: map[string]string{"customer/-80": "a-100"}})
	if got, want := names(p.Tablets), []string{"customer/-80 a-100", "customer/-80 a-102"}; !slices.Equal(got, want) {
		t.Fatalf("tablets %v, want %v", got, want)
	}
}
