package topotest

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proto/vschemapb"
	"github.com/mosaicdb/mosaic/topo"
)

// Run runs every case against stores made by newStore (a fresh, empty
// store per case).
func Run(t *testing.T, newStore func(t *testing.T) topo.Store) {
	cases := []struct {
		name string
		fn   func(t *testing.T, s topo.Store)
	}{
		{"CreateGetUpdateDelete", testCRUD},
		{"List", testList},
		{"Watch", testWatch},
		{"WatchEndsWithContext", testWatchEnds},
		{"Lock", testLock},
		{"Lease", testLease},
		{"PrimaryLeaseAndShardWatch", testPrimaryLeaseAndShardWatch},
		{"TypedServer", testTypedServer},
		{"UpdateFieldsRace", testUpdateFieldsRace},
		{"Commit", testCommit},
		{"ServingGraph", testServingGraph},
		{"SwitchRace", testSwitchRace},
		{"LegacyServing", testLegacyServing},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t)
			c.fn(t, s)
		})
	}
}

func testCRUD(t *testing.T, s topo.Store) {
	ctx := t.Context()
	if _, _, err := s.Get(ctx, "a/b"); !errors.Is(err, topo.ErrNoNode) {
		t.Fatalf("Get missing: %v, want ErrNoNode", err)
	}
	v1, err := s.Create(ctx, "a/b", []byte("one"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "a/b", []byte("again")); !errors.Is(err, topo.ErrNodeExists) {
		t.Fatalf("Create twice: %v, want ErrNodeExists", err)
	}
	data, v, err := s.Get(ctx, "a/b")
	if err != nil || string(data) != "one" || v != v1 {
		t.Fatalf("Get = %q %v %v", data, v, err)
	}
	v2, err := s.Update(ctx, "a/b", []byte("two"), v1)
	if err != nil {
		t.Fatal(err)
	}
	if v2 == v1 {
		t.Fatalf("version did not change")
	}
	if _, err := s.Update(ctx, "a/b", []byte("stale"), v1); !errors.Is(err, topo.ErrBadVersion) {
		t.Fatalf("stale Update: %v, want ErrBadVersion", err)
	}
	if _, err := s.Update(ctx, "a/missing", []byte("x"), 5); !errors.Is(err, topo.ErrNoNode) {
		t.Fatalf("Update missing with version: %v, want ErrNoNode", err)
	}
	if _, err := s.Update(ctx, "a/c", []byte("created"), 0); err != nil {
		t.Fatalf("unconditional Update of a missing key: %v", err)
	}
	if err := s.Delete(ctx, "a/b", v1); !errors.Is(err, topo.ErrBadVersion) {
		t.Fatalf("stale Delete: %v, want ErrBadVersion", err)
	}
	if err := s.Delete(ctx, "a/b", v2); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "a/b", 0); !errors.Is(err, topo.ErrNoNode) {
		t.Fatalf("Delete missing: %v, want ErrNoNode", err)
	}
}

func testList(t *testing.T, s topo.Store) {
	ctx := t.Context()
	for _, k := range []string{"x/2", "x/1", "x/3/deep", "y/1"} {
		if _, err := s.Create(ctx, k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	kvs, err := s.List(ctx, "x/")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, kv := range kvs {
		keys = append(keys, kv.Key)
		if string(kv.Value) != kv.Key {
			t.Errorf("value of %s = %q", kv.Key, kv.Value)
		}
	}
	if len(keys) != 3 || keys[0] != "x/1" || keys[1] != "x/2" || keys[2] != "x/3/deep" {
		t.Fatalf("List = %v", keys)
	}
	if kvs, _ := s.List(ctx, "none/"); len(kvs) != 0 {
		t.Fatalf("List of empty prefix = %v", kvs)
	}
}

func next(t *testing.T, ch <-chan topo.WatchEvent) topo.WatchEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("watch closed")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no watch event in 10s")
	}
	return topo.WatchEvent{}
}

func testWatch(t *testing.T, s topo.Store) {
	ctx := t.Context()
	if _, err := s.Create(ctx, "w/a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	initial, ch, err := s.Watch(ctx, "w/")
	if err != nil {
		t.Fatal(err)
	}
	if len(initial) != 1 || initial[0].Key != "w/a" || string(initial[0].Value) != "1" {
		t.Fatalf("initial = %+v", initial)
	}
	v, err := s.Update(ctx, "w/a", []byte("2"), initial[0].Version)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "other/x", []byte("ignored")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "w/b", []byte("3")); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "w/a", 0); err != nil {
		t.Fatal(err)
	}
	ev := next(t, ch)
	if ev.Key != "w/a" || string(ev.Value) != "2" || ev.Version != v || ev.Deleted {
		t.Fatalf("event 1 = %+v", ev)
	}
	ev = next(t, ch)
	if ev.Key != "w/b" || string(ev.Value) != "3" {
		t.Fatalf("event 2 = %+v", ev)
	}
	ev = next(t, ch)
	if ev.Key != "w/a" || !ev.Deleted {
		t.Fatalf("event 3 = %+v", ev)
	}
}

func testWatchEnds(t *testing.T, s topo.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	_, ch, err := s.Watch(ctx, "e/")
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("watch channel not closed after cancel")
		}
	}
}

func testLock(t *testing.T, s topo.Store) {
	ctx := t.Context()
	u, err := s.Lock(ctx, "locks/one")
	if err != nil {
		t.Fatal(err)
	}
	// A second locker waits until the first unlocks.
	var got atomic.Bool
	done := make(chan error, 1)
	go func() {
		u2, err := s.Lock(ctx, "locks/one")
		if err == nil {
			got.Store(true)
			err = u2.Unlock(ctx)
		}
		done <- err
	}()
	// A locker with a short deadline gives up with the context error.
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := s.Lock(short, "locks/one"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock while held: %v, want deadline exceeded", err)
	}
	if got.Load() {
		t.Fatal("second locker got a held lock")
	}
	if err := u.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("second locker never got the lock")
	}
	if !got.Load() {
		t.Fatal("second locker did not get the lock")
	}
}

func testTypedServer(t *testing.T, s topo.Store) {
	ctx := t.Context()
	ts := topo.NewServer(s)
	if err := ts.CreateKeyspace(ctx, "customer", &topodatapb.Keyspace{Sharded: true}); err != nil {
		t.Fatal(err)
	}
	if err := ts.CreateKeyspace(ctx, "customer", &topodatapb.Keyspace{}); !errors.Is(err, topo.ErrNodeExists) {
		t.Fatalf("create twice: %v", err)
	}
	if err := ts.CreateKeyspace(ctx, "bad name", &topodatapb.Keyspace{}); err == nil {
		t.Fatal("bad keyspace name accepted")
	}
	for _, sh := range []string{"80-", "-80"} {
		if err := ts.CreateShard(ctx, "customer", sh); err != nil {
			t.Fatal(err)
		}
	}
	shards, err := ts.ListShards(ctx, "customer")
	if err != nil || len(shards) != 2 || shards[0] != "-80" || shards[1] != "80-" {
		t.Fatalf("ListShards = %v %v", shards, err)
	}
	alias := &topodatapb.TabletAlias{Cell: "zone1", Uid: 101}
	if _, err := ts.UpdateShardFields(ctx, "customer", "-80", func(sh *topodatapb.Shard) error {
		sh.PrimaryAlias = alias
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sh, _, err := ts.GetShard(ctx, "customer", "-80")
	if err != nil || topo.AliasString(sh.PrimaryAlias) != "zone1-101" || len(sh.KeyRange.End) != 1 {
		t.Fatalf("GetShard = %v %v", sh, err)
	}
	vs := &vschemapb.Keyspace{Sharded: true, Vindexes: map[string]*vschemapb.Vindex{"hash": {Type: "hash"}}}
	if err := ts.SaveVSchema(ctx, "customer", vs); err != nil {
		t.Fatal(err)
	}
	got, err := ts.GetVSchema(ctx, "customer")
	if err != nil || got.Vindexes["hash"].GetType() != "hash" {
		t.Fatalf("GetVSchema = %v %v", got, err)
	}
	names, events, err := ts.WatchKeyspaces(ctx, "zone1")
	if err != nil || len(names) != 1 || names[0] != "customer" {
		t.Fatalf("WatchKeyspaces = %v %v", names, err)
	}
	if err := ts.RebuildSrvKeyspace(ctx, "zone1", "customer"); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-events:
		if ev.Keyspace != "customer" || ev.Err != nil {
			t.Fatalf("keyspace event = %+v", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no keyspace event after serving graph rebuild")
	}
	srv, err := ts.GetSrvKeyspace(ctx, "zone1", "customer")
	if err != nil || len(srv.Partitions) != 3 || len(srv.Partitions[0].ShardReferences) != 2 {
		t.Fatalf("GetSrvKeyspace = %v %v", srv, err)
	}
	tablets, tevents, err := ts.WatchTablets(ctx)
	if err != nil || len(tablets) != 0 {
		t.Fatalf("WatchTablets = %v %v", tablets, err)
	}
	tab := &topodatapb.Tablet{Alias: alias, Keyspace: "customer", Shard: "-80", Type: topodatapb.TabletType_PRIMARY, GrpcPort: 16101}
	if err := ts.CreateTablet(ctx, tab); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-tevents:
		if ev.Alias != "zone1-101" || ev.Tablet.GetGrpcPort() != 16101 {
			t.Fatalf("tablet event = %+v", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no tablet event")
	}
	list, err := ts.ShardTablets(ctx, "customer", "-80")
	if err != nil || len(list) != 1 {
		t.Fatalf("ShardTablets = %v %v", list, err)
	}
	if err := ts.DeleteTablet(ctx, alias); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-tevents:
		if ev.Alias != "zone1-101" || ev.Tablet != nil {
			t.Fatalf("tablet delete event = %+v", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no tablet delete event")
	}
}

func testUpdateFieldsRace(t *testing.T, s topo.Store) {
	ctx := t.Context()
	ts := topo.NewServer(s)
	if err := ts.CreateKeyspace(ctx, "ks", &topodatapb.Keyspace{}); err != nil {
		t.Fatal(err)
	}
	if err := ts.CreateShard(ctx, "ks", "0"); err != nil {
		t.Fatal(err)
	}
	// Concurrent read-modify-write updates must all land: each bumps the uid.
	const n = 8
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			_, err := ts.UpdateShardFields(ctx, "ks", "0", func(sh *topodatapb.Shard) error {
				if sh.PrimaryAlias == nil {
					sh.PrimaryAlias = &topodatapb.TabletAlias{Cell: "c"}
				}
				sh.PrimaryAlias.Uid++
				return nil
			})
			errs <- err
		}()
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	sh, _, err := ts.GetShard(ctx, "ks", "0")
	if err != nil || sh.PrimaryAlias.GetUid() != n {
		t.Fatalf("after %d racing updates uid = %d (%v)", n, sh.PrimaryAlias.GetUid(), err)
	}
}

func testLease(t *testing.T, s topo.Store) {
	ctx := t.Context()
	l, err := s.Lease(ctx, "leases/a", []byte("holder1"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	data, _, err := s.Get(ctx, "leases/a")
	if err != nil || string(data) != "holder1" {
		t.Fatalf("leased key = %q, %v", data, err)
	}
	if _, err := s.Lease(ctx, "leases/a", []byte("holder2"), 5*time.Second); !errors.Is(err, topo.ErrNodeExists) {
		t.Fatalf("second Lease: %v, want ErrNodeExists", err)
	}
	select {
	case <-l.Lost():
		t.Fatal("lease lost at once")
	case <-time.After(100 * time.Millisecond):
	}
	// Released: the key is gone and can be leased again.
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatalf("second Release: %v", err)
	}
	if _, _, err := s.Get(ctx, "leases/a"); !errors.Is(err, topo.ErrNoNode) {
		t.Fatalf("key after Release: %v, want ErrNoNode", err)
	}
	l2, err := s.Lease(ctx, "leases/a", []byte("holder2"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// Someone else deletes the key: the holder learns it lost the lease,
	// and its Release leaves a newer holder's key alone.
	_, v, err := s.Get(ctx, "leases/a")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "leases/a", v); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l2.Lost():
	case <-time.After(10 * time.Second):
		t.Fatal("deleting the key did not make the lease lost")
	}
	if _, err := s.Create(ctx, "leases/a", []byte("other")); err != nil {
		t.Fatal(err)
	}
	if err := l2.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if data, _, err := s.Get(ctx, "leases/a"); err != nil || string(data) != "other" {
		t.Fatalf("Release of a lost lease touched the new key: %q %v", data, err)
	}
}

func testPrimaryLeaseAndShardWatch(t *testing.T, s topo.Store) {
	ctx := t.Context()
	ts := topo.NewServer(s)
	if err := ts.CreateKeyspace(ctx, "ks", &topodatapb.Keyspace{}); err != nil {
		t.Fatal(err)
	}
	for _, sh := range []string{"-80", "-8001", "80-"} {
		if err := ts.CreateShard(ctx, "ks", sh); err != nil {
			t.Fatal(err)
		}
	}
	rec, v0, ch, err := ts.WatchShard(ctx, "ks", "-80")
	if err != nil || rec == nil || v0 == 0 {
		t.Fatalf("WatchShard = %v, %v, %v", rec, v0, err)
	}
	all, allCh, err := ts.WatchShards(ctx)
	if err != nil || len(all) != 3 {
		t.Fatalf("WatchShards = %v, %v", all, err)
	}
	alias := &topodatapb.TabletAlias{Cell: "zone1", Uid: 7}
	for _, sh := range []string{"-8001", "-80"} {
		if _, err := ts.UpdateShardFields(ctx, "ks", sh, func(s *topodatapb.Shard) error {
			s.PrimaryAlias = alias
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	// The one-shard watch skips -8001, a longer name under the same prefix.
	select {
	case ev := <-ch:
		if ev.Shard != "-80" || ev.Record.GetPrimaryAlias().GetUid() != 7 || ev.Version <= v0 {
			t.Fatalf("shard event = %+v", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no shard event")
	}
	for _, want := range []string{"-8001", "-80"} {
		select {
		case ev := <-allCh:
			if ev.Shard != want {
				t.Fatalf("WatchShards event for %s, want %s", ev.Shard, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no WatchShards event")
		}
	}

	leases, lch, err := ts.WatchPrimaryLeases(ctx)
	if err != nil || len(leases) != 0 {
		t.Fatalf("WatchPrimaryLeases = %v, %v", leases, err)
	}
	l, err := ts.AcquirePrimaryLease(ctx, "ks", "-80", &topodatapb.PrimaryLease{Alias: alias, PrimaryTermStartUnixNano: 5}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.AcquirePrimaryLease(ctx, "ks", "-80", &topodatapb.PrimaryLease{Alias: alias}, 5*time.Second); !errors.Is(err, topo.ErrNodeExists) {
		t.Fatalf("second AcquirePrimaryLease: %v, want ErrNodeExists", err)
	}
	got, v, err := ts.GetPrimaryLease(ctx, "ks", "-80")
	if err != nil || got.GetPrimaryTermStartUnixNano() != 5 {
		t.Fatalf("GetPrimaryLease = %v, %v", got, err)
	}
	select {
	case ev := <-lch:
		if ev.Keyspace != "ks" || ev.Shard != "-80" || ev.Lease.GetAlias().GetUid() != 7 {
			t.Fatalf("lease event = %+v", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no lease event")
	}
	if err := ts.BreakPrimaryLease(ctx, "ks", "-80", v); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.Lost():
	case <-time.After(10 * time.Second):
		t.Fatal("broken lease not lost")
	}
	select {
	case ev := <-lch:
		if ev.Lease != nil {
			t.Fatalf("lease event after break = %+v", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no lease event after break")
	}
	if _, _, err := ts.GetPrimaryLease(ctx, "ks", "-80"); !errors.Is(err, topo.ErrNoNode) {
		t.Fatalf("GetPrimaryLease after break: %v", err)
	}
	l.Release(ctx)
}

func testCommit(t *testing.T, s topo.Store) {
	ctx := t.Context()
	va, err := s.Create(ctx, "c/a", []byte("a1"))
	if err != nil {
		t.Fatal(err)
	}
	vb, err := s.Create(ctx, "c/b", []byte("b1"))
	if err != nil {
		t.Fatal(err)
	}
	vd, err := s.Create(ctx, "c/d", []byte("d1"))
	if err != nil {
		t.Fatal(err)
	}
	_, events, err := s.Watch(ctx, "c/")
	if err != nil {
		t.Fatal(err)
	}
	unchanged := func(what string) {
		t.Helper()
		for key, want := range map[string]string{"c/a": "a1", "c/b": "b1", "c/d": "d1"} {
			if data, _, err := s.Get(ctx, key); err != nil || string(data) != want {
				t.Fatalf("%s: %s = %q %v, want it unchanged (%q)", what, key, data, err, want)
			}
		}
		if _, _, err := s.Get(ctx, "c/new"); !errors.Is(err, topo.ErrNoNode) {
			t.Fatalf("%s: c/new exists (%v)", what, err)
		}
	}
	// Each failed condition leaves every key alone, with its own error.
	for _, c := range []struct {
		name string
		op   topo.Op
		want error
	}{
		{"stale put", topo.Op{Kind: topo.OpPut, Key: "c/b", Value: []byte("x"), Version: vb + 1000}, topo.ErrBadVersion},
		{"put of a missing key at a version", topo.Op{Kind: topo.OpPut, Key: "c/missing", Value: []byte("x"), Version: vb}, topo.ErrNoNode},
		{"create of an existing key", topo.Op{Kind: topo.OpCreate, Key: "c/b", Value: []byte("x")}, topo.ErrNodeExists},
		{"stale delete", topo.Op{Kind: topo.OpDelete, Key: "c/b", Version: vb + 1000}, topo.ErrBadVersion},
		{"delete of a missing key", topo.Op{Kind: topo.OpDelete, Key: "c/missing"}, topo.ErrNoNode},
		{"check of a missing key", topo.Op{Kind: topo.OpCheck, Key: "c/missing"}, topo.ErrNoNode},
		{"stale check", topo.Op{Kind: topo.OpCheck, Key: "c/b", Version: vb + 1000}, topo.ErrBadVersion},
	} {
		ops := []topo.Op{
			{Kind: topo.OpPut, Key: "c/a", Value: []byte("a2"), Version: va},
			{Kind: topo.OpCreate, Key: "c/new", Value: []byte("n")},
			{Kind: topo.OpDelete, Key: "c/d", Version: vd},
			c.op,
		}
		if _, err := s.Commit(ctx, ops); !errors.Is(err, c.want) {
			t.Fatalf("%s: Commit = %v, want %v", c.name, err, c.want)
		}
		unchanged(c.name)
	}
	if _, err := s.Commit(ctx, []topo.Op{{Kind: topo.OpCheck, Key: "c/a"}, {Kind: topo.OpPut, Key: "c/a", Value: []byte("x")}}); err == nil {
		t.Fatal("Commit with a key twice succeeded")
	}
	unchanged("key twice")

	// All conditions hold: every write lands at one version.
	v, err := s.Commit(ctx, []topo.Op{
		{Kind: topo.OpPut, Key: "c/a", Value: []byte("a2"), Version: va},
		{Kind: topo.OpCreate, Key: "c/new", Value: []byte("n")},
		{Kind: topo.OpDelete, Key: "c/d", Version: vd},
		{Kind: topo.OpCheck, Key: "c/b", Version: vb},
		{Kind: topo.OpPut, Key: "c/e", Value: []byte("e")},
	})
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"c/a": "a2", "c/new": "n", "c/e": "e", "c/b": "b1"} {
		data, got, err := s.Get(ctx, key)
		if err != nil || string(data) != want {
			t.Fatalf("after commit %s = %q %v, want %q", key, data, err, want)
		}
		if key != "c/b" && got != v {
			t.Fatalf("after commit %s is at version %d, want the commit's %d", key, got, v)
		}
		if key == "c/b" && got != vb {
			t.Fatalf("checked key c/b moved to version %d", got)
		}
	}
	if _, _, err := s.Get(ctx, "c/d"); !errors.Is(err, topo.ErrNoNode) {
		t.Fatalf("deleted key: %v", err)
	}
	// A watcher sees each write of the commit once, none of the failed
	// ones.
	seen := map[string]topo.WatchEvent{}
	for len(seen) < 4 {
		ev := next(t, events)
		if _, dup := seen[ev.Key]; dup {
			t.Fatalf("second event for %s: %+v", ev.Key, ev)
		}
		seen[ev.Key] = ev
	}
	if !seen["c/d"].Deleted || string(seen["c/a"].Value) != "a2" || string(seen["c/new"].Value) != "n" || string(seen["c/e"].Value) != "e" {
		t.Fatalf("commit events = %+v", seen)
	}
	if _, ok := seen["c/b"]; ok {
		t.Fatal("a checked key made an event")
	}
}
