package topo_test

import (
	"slices"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proto/vreplicationpb"
	"github.com/mosaicdb/mosaic/topo"
	"github.com/mosaicdb/mosaic/topo/memstore"
)

func TestSetDeniedTables(t *testing.T) {
	p := topodatapb.TabletType_PRIMARY
	sh := &topodatapb.Shard{}
	if !topo.SetDeniedTables(sh, p, []string{"customer", "corder"}, true) || !slices.Equal(topo.DeniedTables(sh, p), []string{"corder", "customer"}) {
		t.Fatalf("deny: %v", sh)
	}
	if topo.SetDeniedTables(sh, p, []string{"Customer"}, true) {
		t.Error("denying a denied table changed the record")
	}
	topo.SetQueryServiceDisabled(sh, p, true)
	topo.SetQueryServiceDisabled(sh, p, false)
	if !slices.Equal(topo.DeniedTables(sh, p), []string{"corder", "customer"}) {
		t.Errorf("enabling the query service lost the denied tables: %v", sh)
	}
	if !topo.SetDeniedTables(sh, p, []string{"CORDER", "customer"}, false) || len(sh.TabletControls) != 0 {
		t.Errorf("allow: %v", sh)
	}
	if topo.SetDeniedTables(sh, p, []string{"customer"}, false) {
		t.Error("allowing a table not denied changed the record")
	}
}

// EndSwitch lifts the fence, denies the tables and commits the other ops
// in one step; the routing rules' watch event reaches WatchKeyspaces.
func TestEndSwitchDeniesTables(t *testing.T) {
	ctx := t.Context()
	ts := topo.NewServer(memstore.New())
	defer ts.Close()
	if err := ts.CreateKeyspaceWithShards(ctx, "commerce", &topodatapb.Keyspace{}, []string{"0"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.UpdateShardFields(ctx, "commerce", "0", func(sh *topodatapb.Shard) error {
		sh.PrimaryAlias = &topodatapb.TabletAlias{Cell: "zone1", Uid: 100}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	_, events, err := ts.WatchKeyspaces(ctx, "zone1")
	if err != nil {
		t.Fatal(err)
	}
	kv, err := ts.BeginSwitch(ctx, topo.BeginSwitchRequest{Keyspace: "commerce", TabletTypes: []topodatapb.TabletType{topodatapb.TabletType_PRIMARY}, Fence: []string{"0"}})
	if err != nil {
		t.Fatal(err)
	}
	rr, rv, err := ts.GetRoutingRulesVersion(ctx)
	if err != nil || rv != 0 || len(rr.Rules) != 0 {
		t.Fatalf("no routing rules: %v %d %v", rr, rv, err)
	}
	rr.Rules = append(rr.Rules, &topodatapb.RoutingRule{FromTable: "customer", ToTables: []string{"customer.customer"}})
	rop, err := topo.RoutingRulesOp(rr, rv)
	if err != nil {
		t.Fatal(err)
	}
	// A failed op fails it all.
	bad, _ := topo.WorkflowOp("commerce", &vreplicationpb.Workflow{Name: "mt"}, 42)
	if _, err := ts.EndSwitch(ctx, topo.EndSwitchRequest{Keyspace: "commerce", KeyspaceVersion: kv, DenyTables: []string{"customer"}, Also: []topo.Op{rop, bad}}); err == nil {
		t.Fatal("EndSwitch with a failing op succeeded")
	}
	if sh, _, _ := ts.GetShard(ctx, "commerce", "0"); !topo.QueryServiceDisabled(sh, topodatapb.TabletType_PRIMARY) || len(topo.DeniedTables(sh, topodatapb.TabletType_PRIMARY)) != 0 {
		t.Fatalf("a failed EndSwitch changed the shard: %v", sh)
	}
	drain := func() {
		for {
			select {
			case <-events:
			case <-time.After(50 * time.Millisecond):
				return
			}
		}
	}
	drain()
	if _, err := ts.EndSwitch(ctx, topo.EndSwitchRequest{Keyspace: "commerce", KeyspaceVersion: kv, DenyTables: []string{"customer"}, Also: []topo.Op{rop}}); err != nil {
		t.Fatal(err)
	}
	ks, _, _ := ts.GetKeyspaceVersion(ctx, "commerce")
	sh, _, _ := ts.GetShard(ctx, "commerce", "0")
	if got := topo.DeniedTables(sh, topodatapb.TabletType_PRIMARY); !slices.Equal(got, []string{"customer"}) {
		t.Errorf("the primary denies %v", got)
	}
	if got := topo.DeniedTables(sh, topodatapb.TabletType_REPLICA); len(got) != 0 {
		t.Errorf("the replicas deny %v", got)
	}
	if ks.Switching != nil || topo.QueryServiceDisabled(sh, topodatapb.TabletType_PRIMARY) {
		t.Errorf("after EndSwitch: switching %v, shard %v", ks.Switching, sh)
	}
	if got, err := ts.GetRoutingRules(ctx); err != nil || len(got.Rules) != 1 {
		t.Errorf("routing rules after EndSwitch: %v %v", got, err)
	}
	ops, err := ts.DenyTablesOps(ctx, "commerce", []string{"customer"}, false)
	if err != nil || len(ops) != 1 {
		t.Fatalf("DenyTablesOps: %v %v", ops, err)
	}
	if _, err := ts.Store().Commit(ctx, ops); err != nil {
		t.Fatal(err)
	}
	if sh, _, _ := ts.GetShard(ctx, "commerce", "0"); len(sh.TabletControls) != 0 {
		t.Errorf("allowed again: %v", sh)
	}
	// A change of the routing rules alone is an event without a keyspace.
	drain()
	if _, err := ts.SaveRoutingRulesVersion(ctx, &topodatapb.RoutingRules{}, 0); err == nil {
		t.Error("SaveRoutingRulesVersion over an existing record with version 0 succeeded")
	}
	if err := ts.SaveRoutingRules(ctx, &topodatapb.RoutingRules{}); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-events:
		if ev.Keyspace != "" || ev.Err != nil {
			t.Errorf("routing rules event: %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Error("no event for a change of the routing rules")
	}
}
