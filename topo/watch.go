package topo

import (
	"context"
	"strings"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
)

// TabletEvent is one change to the tablet records. Tablet is nil when the
// record was deleted. An event with Err set ends the watch.
type TabletEvent struct {
	Alias  string
	Tablet *topodatapb.Tablet
	Err    error
}

// WatchTablets returns every tablet record and a channel of later changes.
// The channel closes when ctx ends or after an event with Err.
func (s *Server) WatchTablets(ctx context.Context) ([]*topodatapb.Tablet, <-chan TabletEvent, error) {
	initial, events, err := s.store.Watch(ctx, tabletsDir+"/")
	if err != nil {
		return nil, nil, err
	}
	var tablets []*topodatapb.Tablet
	for _, kv := range initial {
		t := &topodatapb.Tablet{}
		if Unmarshal(kv.Value, t) == nil {
			tablets = append(tablets, t)
		}
	}
	out := make(chan TabletEvent)
	go func() {
		defer close(out)
		for ev := range events {
			te := TabletEvent{Alias: strings.TrimPrefix(ev.Key, tabletsDir+"/"), Err: ev.Err}
			if ev.Err == nil && !ev.Deleted {
				t := &topodatapb.Tablet{}
				if err := Unmarshal(ev.Value, t); err != nil {
					continue
				}
				te.Tablet = t
			}
			select {
			case out <- te:
			case <-ctx.Done():
				return
			}
			if ev.Err != nil {
				return
			}
		}
	}()
	return tablets, out, nil
}

// KeyspaceEvent says that something about a keyspace changed: its record,
// a shard, its VSchema, or its serving graph in the watched cell; or,
// with Keyspace empty, that the routing rules changed. The watcher
// re-reads what it needs. An event with Err set ends the watch.
type KeyspaceEvent struct {
	Keyspace string
	Err      error
}

// WatchKeyspaces returns the keyspace names and a channel of changes to any
// keyspace's records, to its serving graph in cell, or to the routing
// rules (an event with an empty Keyspace). The channel closes when ctx
// ends or after an event with Err.
func (s *Server) WatchKeyspaces(ctx context.Context, cell string) ([]string, <-chan KeyspaceEvent, error) {
	ctx, cancel := context.WithCancel(ctx)
	ksKVs, ksEvents, err := s.store.Watch(ctx, keyspacesDir+"/")
	if err != nil {
		cancel()
		return nil, nil, err
	}
	_, srvEvents, err := s.store.Watch(ctx, servingDir(cell)+"/")
	if err != nil {
		cancel()
		return nil, nil, err
	}
	_, ruleEvents, err := s.store.Watch(ctx, routingRuleKey)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	out := make(chan KeyspaceEvent)
	go func() {
		defer cancel()
		defer close(out)
		send := func(ev KeyspaceEvent) bool {
			select {
			case out <- ev:
				return ev.Err == nil
			case <-ctx.Done():
				return false
			}
		}
		for ksEvents != nil || srvEvents != nil {
			select {
			case ev, ok := <-ksEvents:
				if !ok {
					return
				}
				name, _, _ := strings.Cut(strings.TrimPrefix(ev.Key, keyspacesDir+"/"), "/")
				if !send(KeyspaceEvent{Keyspace: name, Err: ev.Err}) {
					return
				}
			case ev, ok := <-srvEvents:
				if !ok {
					return
				}
				name := strings.TrimPrefix(ev.Key, servingDir(cell)+"/")
				if !send(KeyspaceEvent{Keyspace: name, Err: ev.Err}) {
					return
				}
			case ev, ok := <-ruleEvents:
				if !ok {
					return
				}
				if ev.Err == nil && ev.Key != routingRuleKey {
					continue
				}
				if !send(KeyspaceEvent{Err: ev.Err}) {
					return
				}
			}
		}
	}()
	return childNames(keyspacesDir, ksKVs), out, nil
}

// ShardEvent is a change of one shard record. Shard is nil when the
// record was deleted. An event with Err set ends the watch.
type ShardEvent struct {
	Keyspace, Shard string
	Record          *topodatapb.Shard
	// Version is the record's version after the change: later changes of
	// one shard have higher versions.
	Version Version
	Err     error
}

// WatchShards returns every shard record now, by "ks/shard", and a
// channel of later changes to any of them, closed when ctx ends or after
// an event with Err.
func (s *Server) WatchShards(ctx context.Context) (map[string]*topodatapb.Shard, <-chan ShardEvent, error) {
	return s.watchShards(ctx, keyspacesDir+"/")
}

// WatchShard is WatchShards for one shard: its record now (nil if there
// is none) with its version, and a channel of its later changes.
func (s *Server) WatchShard(ctx context.Context, ks, shard string) (*topodatapb.Shard, Version, <-chan ShardEvent, error) {
	initial, events, err := s.store.Watch(ctx, shardPath(ks, shard))
	if err != nil {
		return nil, 0, nil, err
	}
	var rec *topodatapb.Shard
	var v Version
	for _, kv := range initial {
		if kv.Key == shardPath(ks, shard) {
			r := &topodatapb.Shard{}
			if Unmarshal(kv.Value, r) == nil {
				rec, v = r, kv.Version
			}
		}
	}
	return rec, v, s.shardEvents(ctx, events, ks, shard), nil
}

// watchShards watches prefix for shard records.
func (s *Server) watchShards(ctx context.Context, prefix string) (map[string]*topodatapb.Shard, <-chan ShardEvent, error) {
	initial, events, err := s.store.Watch(ctx, prefix)
	if err != nil {
		return nil, nil, err
	}
	now := map[string]*topodatapb.Shard{}
	for _, kv := range initial {
		ks, shard, ok := splitShardKey(kv.Key)
		rec := &topodatapb.Shard{}
		if ok && Unmarshal(kv.Value, rec) == nil {
			now[ks+"/"+shard] = rec
		}
	}
	return now, s.shardEvents(ctx, events, "", ""), nil
}

// shardEvents turns store events into shard events, keeping only
// onlyKS/onlyShard when onlyKS is set.
func (s *Server) shardEvents(ctx context.Context, events <-chan WatchEvent, onlyKS, onlyShard string) <-chan ShardEvent {
	out := make(chan ShardEvent)
	go func() {
		defer close(out)
		for ev := range events {
			se := ShardEvent{Err: ev.Err, Version: ev.Version}
			if ev.Err == nil {
				ks, shard, ok := splitShardKey(ev.Key)
				if !ok || (onlyKS != "" && (ks != onlyKS || shard != onlyShard)) {
					continue
				}
				se.Keyspace, se.Shard = ks, shard
				if !ev.Deleted {
					rec := &topodatapb.Shard{}
					if Unmarshal(ev.Value, rec) != nil {
						continue
					}
					se.Record = rec
				}
			}
			select {
			case out <- se:
			case <-ctx.Done():
				return
			}
			if ev.Err != nil {
				return
			}
		}
	}()
	return out
}

// splitShardKey parses keyspaces/<ks>/shards/<shard>.
func splitShardKey(key string) (ks, shard string, ok bool) {
	parts := strings.Split(key, "/")
	if len(parts) != 4 || parts[0] != keyspacesDir || parts[2] != "shards" || parts[1] == "" || parts[3] == "" {
		return "", "", false
	}
	return parts[1], parts[3], true
}
