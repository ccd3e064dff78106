package topo

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
)

// The primary lease of a shard, at leases/<ks>/<shard>, is the topo-level
// fence that keeps a shard to one writable primary: a tablet takes writes
// only while it holds the lease and the shard record names it, and it
// stops as soon as it loses the lease (see Lease.Lost). A primary that
// dies or is cut off from topo loses it within the lease's time to live;
// the failover controller reads its absence as "the primary is gone".

const leasesDir = "leases"

func primaryLeasePath(ks, shard string) string { return path.Join(leasesDir, ks, shard) }

// AcquirePrimaryLease takes the primary lease of a shard for the tablet
// rec names. It returns ErrNodeExists while another holder has it.
func (s *Server) AcquirePrimaryLease(ctx context.Context, ks, shard string, rec *topodatapb.PrimaryLease, ttl time.Duration) (Lease, error) {
	data, err := Marshal(rec)
	if err != nil {
		return nil, err
	}
	l, err := s.store.Lease(ctx, primaryLeasePath(ks, shard), data, ttl)
	if err != nil {
		return nil, fmt.Errorf("primary lease of %s/%s: %w", ks, shard, err)
	}
	return l, nil
}

// GetPrimaryLease returns the holder record of a shard's primary lease
// and its version, or ErrNoNode when nobody holds it.
func (s *Server) GetPrimaryLease(ctx context.Context, ks, shard string) (*topodatapb.PrimaryLease, Version, error) {
	rec := &topodatapb.PrimaryLease{}
	v, err := s.getRecord(ctx, primaryLeasePath(ks, shard), rec)
	if err != nil {
		return nil, 0, fmt.Errorf("primary lease of %s/%s: %w", ks, shard, err)
	}
	return rec, v, nil
}

// BreakPrimaryLease deletes a shard's primary lease at version v (zero:
// any). Only for a holder known to be dead: its own tablet restarting, or
// a failover controller that found the holder's processes gone. A live
// holder sees the deletion and stops taking writes.
func (s *Server) BreakPrimaryLease(ctx context.Context, ks, shard string, v Version) error {
	err := s.store.Delete(ctx, primaryLeasePath(ks, shard), v)
	if err != nil && !errors.Is(err, ErrNoNode) {
		return fmt.Errorf("break primary lease of %s/%s: %w", ks, shard, err)
	}
	return nil
}

// LeaseEvent is a change of one shard's primary lease. Lease is nil when
// the lease is gone. An event with Err set ends the watch.
type LeaseEvent struct {
	Keyspace, Shard string
	Lease           *topodatapb.PrimaryLease
	Err             error
}

// WatchPrimaryLeases returns the primary leases held now, by "ks/shard",
// and a channel of later changes, closed when ctx ends or after an event
// with Err.
func (s *Server) WatchPrimaryLeases(ctx context.Context) (map[string]*topodatapb.PrimaryLease, <-chan LeaseEvent, error) {
	initial, events, err := s.store.Watch(ctx, leasesDir+"/")
	if err != nil {
		return nil, nil, err
	}
	now := map[string]*topodatapb.PrimaryLease{}
	for _, kv := range initial {
		ks, shard, ok := splitLeaseKey(kv.Key)
		rec := &topodatapb.PrimaryLease{}
		if ok && Unmarshal(kv.Value, rec) == nil {
			now[ks+"/"+shard] = rec
		}
	}
	out := make(chan LeaseEvent)
	go func() {
		defer close(out)
		for ev := range events {
			le := LeaseEvent{Err: ev.Err}
			if ev.Err == nil {
				ks, shard, ok := splitLeaseKey(ev.Key)
				if !ok {
					continue
				}
				le.Keyspace, le.Shard = ks, shard
				if !ev.Deleted {
					rec := &topodatapb.PrimaryLease{}
					if Unmarshal(ev.Value, rec) != nil {
						continue
					}
					le.Lease = rec
				}
			}
			select {
			case out <- le:
			case <-ctx.Done():
				return
			}
			if ev.Err != nil {
				return
			}
		}
	}()
	return now, out, nil
}

func splitLeaseKey(key string) (ks, shard string, ok bool) {
	rest, ok := strings.CutPrefix(key, leasesDir+"/")
	if !ok {
		return "", "", false
	}
	ks, shard, ok = strings.Cut(rest, "/")
	return ks, shard, ok && ks != "" && shard != "" && !strings.Contains(shard, "/")
}
