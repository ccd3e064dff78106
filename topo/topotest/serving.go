package topotest

import (
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/mosaicdb/mosaic/keyrange"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proto/vreplicationpb"
	"github.com/mosaicdb/mosaic/topo"
)

var (
	primary = topodatapb.TabletType_PRIMARY
	replica = topodatapb.TabletType_REPLICA
	rdonly  = topodatapb.TabletType_RDONLY
)

// served returns what serves each type, from the record and from each
// cell's serving graph, failing when they disagree.
func served(t *testing.T, ts *topo.Server, ks string, cells ...string) map[topodatapb.TabletType][]string {
	t.Helper()
	rec, err := ts.GetKeyspace(t.Context(), ks)
	if err != nil {
		t.Fatal(err)
	}
	out := map[topodatapb.TabletType][]string{}
	for _, tt := range topo.ServedTypes() {
		out[tt] = topo.ServedShards(rec, tt)
	}
	for _, cell := range cells {
		srv, err := ts.GetSrvKeyspace(t.Context(), cell, ks)
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range topo.ServedTypes() {
			got, _ := topo.SrvShards(srv, tt)
			if !slices.Equal(got, out[tt]) {
				t.Fatalf("%s serving graph of %s: %v serves %v, the record says %v", cell, ks, tt, got, out[tt])
			}
		}
		if !slices.Equal(srv.GetSwitching().GetTabletTypes(), rec.GetSwitching().GetTabletTypes()) {
			t.Fatalf("%s serving graph switching %v, record %v", cell, srv.GetSwitching(), rec.GetSwitching())
		}
	}
	return out
}

func wantServed(t *testing.T, got map[topodatapb.TabletType][]string, tt topodatapb.TabletType, want ...string) {
	t.Helper()
	if !slices.Equal(got[tt], want) {
		t.Fatalf("%v served by %v, want %v", tt, got[tt], want)
	}
}

func testServingGraph(t *testing.T, s topo.Store) {
	ctx := t.Context()
	ts := topo.NewServer(s)
	if err := ts.CreateKeyspace(ctx, "ks", &topodatapb.Keyspace{Sharded: true}); err != nil {
		t.Fatal(err)
	}
	// The first shards serve once they cover the key range.
	if err := ts.CreateShard(ctx, "ks", "-80"); err != nil {
		t.Fatal(err)
	}
	wantServed(t, served(t, ts, "ks"), primary)
	if err := ts.CreateShard(ctx, "ks", "80-"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range topo.ServedTypes() {
		wantServed(t, served(t, ts, "ks"), tt, "-80", "80-")
	}
	// Tablets in two cells: both cells get the serving graph.
	for i, cell := range []string{"zone1", "zone2"} {
		tab := &topodatapb.Tablet{Alias: &topodatapb.TabletAlias{Cell: cell, Uid: uint32(100 + i)}, Keyspace: "ks", Shard: "-80"}
		if err := ts.CreateTablet(ctx, tab); err != nil {
			t.Fatal(err)
		}
	}
	if err := ts.RebuildSrvKeyspace(ctx, "zone1", "ks"); err != nil {
		t.Fatal(err)
	}
	// Later shards serve nothing.
	targets := []string{"-40", "40-80", "80-c0", "c0-"}
	if err := ts.CreateShards(ctx, "ks", targets); err != nil {
		t.Fatal(err)
	}
	got := served(t, ts, "ks", "zone1")
	for _, tt := range topo.ServedTypes() {
		wantServed(t, got, tt, "-80", "80-")
	}
	if err := ts.CreateShards(ctx, "ks", []string{"-8000"}); !errors.Is(err, topo.ErrNodeExists) {
		t.Fatalf("shard with the range of -80: %v, want ErrNodeExists", err)
	}
	if err := ts.CreateShards(ctx, "ks", []string{"zz"}); err == nil {
		t.Fatal("bad shard name accepted")
	}
	if err := ts.DeleteShard(ctx, "ks", "-80"); !errors.Is(err, topo.ErrShardServing) {
		t.Fatalf("delete of a serving shard: %v, want ErrShardServing", err)
	}

	_, v, err := ts.GetKeyspaceVersion(ctx, "ks")
	if err != nil {
		t.Fatal(err)
	}
	reads := []topodatapb.TabletType{replica, rdonly}
	for _, c := range []struct {
		name string
		req  topo.SwitchRequest
		want error
	}{
		{"stale version", topo.SwitchRequest{TabletTypes: reads, From: []string{"-80"}, To: []string{"-40", "40-80"}, KeyspaceVersion: v - 1}, topo.ErrBadVersion},
		{"source not serving", topo.SwitchRequest{TabletTypes: reads, From: []string{"-40"}, To: []string{"80-c0"}}, topo.ErrServedMismatch},
		{"target serving", topo.SwitchRequest{TabletTypes: reads, From: []string{"-80"}, To: []string{"80-"}}, topo.ErrServedMismatch},
		{"gap", topo.SwitchRequest{TabletTypes: reads, From: []string{"80-"}, To: []string{"80-c0"}}, keyrange.ErrNotPartition},
		{"overlap", topo.SwitchRequest{TabletTypes: reads, From: []string{"-80"}, To: []string{"-40", "40-80", "80-c0"}}, topo.ErrBadServing},
		{"unknown shard", topo.SwitchRequest{TabletTypes: reads, From: []string{"-80"}, To: []string{"-20", "20-80"}}, topo.ErrBadServing},
		{"primary without the fence", topo.SwitchRequest{TabletTypes: []topodatapb.TabletType{primary}, From: []string{"-80"}, To: []string{"-40", "40-80"}}, topo.ErrNotSwitching},
	} {
		c.req.Keyspace = "ks"
		if _, err := ts.SwitchServedShards(ctx, c.req); !errors.Is(err, c.want) {
			t.Fatalf("%s: %v, want %v", c.name, err, c.want)
		}
		if _, nv, _ := ts.GetKeyspaceVersion(ctx, "ks"); nv != v {
			t.Fatalf("%s: the refused switch moved the record", c.name)
		}
	}

	// Reads move first, with a workflow record written in the same
	// step; an op of Also that fails fails the switch.
	wf := &vreplicationpb.Workflow{Name: "wf", State: vreplicationpb.WorkflowState_RUNNING}
	if err := ts.CreateWorkflow(ctx, "ks", wf); err != nil {
		t.Fatal(err)
	}
	_, wv, err := ts.GetWorkflow(ctx, "ks", "wf")
	if err != nil {
		t.Fatal(err)
	}
	wf.SwitchedTypes = reads
	stale, err := topo.WorkflowOp("ks", wf, wv+100)
	if err != nil {
		t.Fatal(err)
	}
	readsTo := topo.SwitchRequest{Keyspace: "ks", TabletTypes: reads, From: []string{"-80"}, To: []string{"-40", "40-80"}, KeyspaceVersion: v, Also: []topo.Op{stale}}
	if _, err := ts.SwitchServedShards(ctx, readsTo); !errors.Is(err, topo.ErrBadVersion) {
		t.Fatalf("switch with a stale workflow op: %v, want ErrBadVersion", err)
	}
	if _, nv, _ := ts.GetKeyspaceVersion(ctx, "ks"); nv != v {
		t.Fatal("a switch whose workflow op failed moved the record")
	}
	if readsTo.Also[0], err = topo.WorkflowOp("ks", wf, wv); err != nil {
		t.Fatal(err)
	}
	v, err = ts.SwitchServedShards(ctx, readsTo)
	if err != nil {
		t.Fatal(err)
	}
	if got, _, err := ts.GetWorkflow(ctx, "ks", "wf"); err != nil || !slices.Equal(got.SwitchedTypes, reads) {
		t.Fatalf("workflow after the switch: %v, %v", got, err)
	}
	if err := ts.DeleteWorkflow(ctx, "ks", "wf"); err != nil {
		t.Fatal(err)
	}
	got = served(t, ts, "ks", "zone1", "zone2")
	wantServed(t, got, primary, "-80", "80-")
	wantServed(t, got, replica, "-40", "40-80", "80-")
	wantServed(t, got, rdonly, "-40", "40-80", "80-")

	// The fence of the sources and the switching flag come together.
	if _, err := ts.BeginSwitch(ctx, topo.BeginSwitchRequest{Keyspace: "ks", TabletTypes: []topodatapb.TabletType{primary}, Fence: []string{"-40"}}); !errors.Is(err, topo.ErrServedMismatch) {
		t.Fatalf("fence of a shard that does not serve primary: %v", err)
	}
	v, err = ts.BeginSwitch(ctx, topo.BeginSwitchRequest{Keyspace: "ks", TabletTypes: []topodatapb.TabletType{primary}, Fence: []string{"-80"}, KeyspaceVersion: v, Reason: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.BeginSwitch(ctx, topo.BeginSwitchRequest{Keyspace: "ks", TabletTypes: []topodatapb.TabletType{primary}}); !errors.Is(err, topo.ErrSwitchUnderWay) {
		t.Fatalf("second BeginSwitch: %v, want ErrSwitchUnderWay", err)
	}
	rec, _ := ts.GetKeyspace(ctx, "ks")
	if rec.GetSwitching().GetReason() != "test" || !slices.Equal(rec.GetSwitching().GetTabletTypes(), []topodatapb.TabletType{primary}) {
		t.Fatalf("switching = %v", rec.GetSwitching())
	}
	served(t, ts, "ks", "zone1", "zone2")
	fenced := func(shard string) bool {
		sh, _, err := ts.GetShard(ctx, "ks", shard)
		if err != nil {
			t.Fatal(err)
		}
		return topo.QueryServiceDisabled(sh, primary)
	}
	if !fenced("-80") || fenced("80-") {
		t.Fatalf("after BeginSwitch: -80 fenced %v, 80- fenced %v", fenced("-80"), fenced("80-"))
	}
	// Primary traffic needs primaries on the targets.
	primaryTo := topo.SwitchRequest{Keyspace: "ks", TabletTypes: []topodatapb.TabletType{primary}, From: []string{"-80"}, To: []string{"-40", "40-80"}}
	if _, err := ts.SwitchServedShards(ctx, primaryTo); !errors.Is(err, topo.ErrBadServing) {
		t.Fatalf("primary switch to shards without a primary: %v, want ErrBadServing", err)
	}
	for i, sh := range []string{"-40", "40-80"} {
		if _, err := ts.UpdateShardFields(ctx, "ks", sh, func(r *topodatapb.Shard) error {
			r.PrimaryAlias = &topodatapb.TabletAlias{Cell: "zone1", Uid: uint32(200 + i)}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	primaryTo.KeyspaceVersion = v
	if _, err = ts.SwitchServedShards(ctx, primaryTo); err != nil {
		t.Fatal(err)
	}
	got = served(t, ts, "ks", "zone1", "zone2")
	wantServed(t, got, primary, "-40", "40-80", "80-")
	if rec, _ := ts.GetKeyspace(ctx, "ks"); rec.Switching != nil {
		t.Fatalf("switching left after the switch: %v", rec.Switching)
	}
	if !fenced("-80") || fenced("-40") || fenced("40-80") {
		t.Fatalf("after the switch: -80 fenced %v, -40 %v, 40-80 %v", fenced("-80"), fenced("-40"), fenced("40-80"))
	}
	// The source serves nothing now and may go.
	if err := ts.DeleteShard(ctx, "ks", "-80"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ts.GetShard(ctx, "ks", "-80"); !errors.Is(err, topo.ErrNoNode) {
		t.Fatalf("deleted shard: %v", err)
	}

	// A cancelled switch gives the fenced shards their writes back.
	if _, err := ts.CancelSwitch(ctx, "ks", 0); !errors.Is(err, topo.ErrNotSwitching) {
		t.Fatalf("cancel without a switch: %v", err)
	}
	if _, err := ts.BeginSwitch(ctx, topo.BeginSwitchRequest{Keyspace: "ks", TabletTypes: []topodatapb.TabletType{primary}, Fence: []string{"80-"}}); err != nil {
		t.Fatal(err)
	}
	if !fenced("80-") {
		t.Fatal("80- not fenced")
	}
	if _, err := ts.CancelSwitch(ctx, "ks", 0); err != nil {
		t.Fatal(err)
	}
	if fenced("80-") {
		t.Fatal("80- still fenced after CancelSwitch")
	}
	served(t, ts, "ks", "zone1", "zone2")

	// A serving graph that overlaps is refused when saved.
	bad := &topodatapb.SrvKeyspace{Partitions: []*topodatapb.SrvKeyspace_Partition{{ServedType: primary, ShardReferences: []*topodatapb.ShardReference{{Name: "-80"}, {Name: "-40"}, {Name: "80-"}}}}}
	if err := ts.SaveSrvKeyspace(ctx, "zone1", "ks", bad); !errors.Is(err, keyrange.ErrNotPartition) {
		t.Fatalf("SaveSrvKeyspace of overlapping shards: %v", err)
	}
	served(t, ts, "ks", "zone1")

	// A new keyspace with its shards in one step serves them.
	if err := ts.CreateKeyspaceWithShards(ctx, "two", &topodatapb.Keyspace{Sharded: true}, []string{"-80", "80-"}); err != nil {
		t.Fatal(err)
	}
	wantServed(t, served(t, ts, "two"), replica, "-80", "80-")
	if err := ts.CreateKeyspaceWithShards(ctx, "gap", &topodatapb.Keyspace{}, []string{"-40", "80-"}); !errors.Is(err, topo.ErrBadServing) {
		t.Fatalf("keyspace with a gap: %v", err)
	}
	if _, err := ts.GetKeyspace(ctx, "gap"); !errors.Is(err, topo.ErrNoNode) {
		t.Fatalf("refused keyspace exists: %v", err)
	}
}

// Two switches decided on the same keyspace version: one applies, the
// other fails with ErrBadVersion.
func testSwitchRace(t *testing.T, s topo.Store) {
	ctx := t.Context()
	ts := topo.NewServer(s)
	if err := ts.CreateKeyspaceWithShards(ctx, "ks", &topodatapb.Keyspace{Sharded: true}, []string{"-80", "80-"}); err != nil {
		t.Fatal(err)
	}
	if err := ts.CreateShards(ctx, "ks", []string{"-40", "40-80", "80-c0", "c0-"}); err != nil {
		t.Fatal(err)
	}
	_, v, err := ts.GetKeyspaceVersion(ctx, "ks")
	if err != nil {
		t.Fatal(err)
	}
	reqs := []topo.SwitchRequest{
		{Keyspace: "ks", TabletTypes: []topodatapb.TabletType{replica}, From: []string{"-80"}, To: []string{"-40", "40-80"}, KeyspaceVersion: v},
		{Keyspace: "ks", TabletTypes: []topodatapb.TabletType{replica}, From: []string{"80-"}, To: []string{"80-c0", "c0-"}, KeyspaceVersion: v},
	}
	errs := make([]error, len(reqs))
	var wg sync.WaitGroup
	for i, r := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = ts.SwitchServedShards(ctx, r)
		}()
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won >= 0:
			t.Fatal("both switches applied")
		case err == nil:
			won = i
		case !errors.Is(err, topo.ErrBadVersion):
			t.Fatalf("losing switch: %v, want ErrBadVersion", err)
		}
	}
	if won < 0 {
		t.Fatalf("no switch applied: %v", errs)
	}
	got := served(t, ts, "ks")
	want := append(slices.Clone(reqs[won].To), map[int]string{0: "80-", 1: "-80"}[won])
	topo.SortShardNames(want)
	wantServed(t, got, replica, want...)
}

// A keyspace record written before served lists existed serves the
// shards whose record says is_primary_serving.
func testLegacyServing(t *testing.T, s topo.Store) {
	ctx := t.Context()
	for key, rec := range map[string]string{
		"keyspaces/old":            `{"sharded": true}`,
		"keyspaces/old/shards/-80": `{"key_range": {"end": "gA=="}, "is_primary_serving": true}`,
		"keyspaces/old/shards/80-": `{"key_range": {"start": "gA=="}, "is_primary_serving": true}`,
		"keyspaces/old/shards/-40": `{"key_range": {"end": "QA=="}}`,
	} {
		if _, err := s.Create(ctx, key, []byte(rec)); err != nil {
			t.Fatal(err)
		}
	}
	ts := topo.NewServer(s)
	for _, tt := range topo.ServedTypes() {
		wantServed(t, served(t, ts, "old"), tt, "-80", "80-")
	}
	if err := ts.RebuildSrvKeyspace(ctx, "zone1", "old"); err != nil {
		t.Fatal(err)
	}
	served(t, ts, "old", "zone1")
	if err := ts.DeleteShard(ctx, "old", "80-"); !errors.Is(err, topo.ErrShardServing) {
		t.Fatalf("delete of a legacy serving shard: %v", err)
	}
}
