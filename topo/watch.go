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
// a shard, its VSchema, or its serving graph in the watched cell. The
// watcher re-reads what it needs. An event with Err set ends the watch.
type KeyspaceEvent struct {
	Keyspace string
	Err      error
}

// WatchKeyspaces returns the keyspace names and a channel of changes to any
// keyspace's records or to its serving graph in cell. The channel closes
// when ctx ends or after an event with Err.
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
			}
		}
	}()
	return childNames(keyspacesDir, ksKVs), out, nil
}
