package operator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/mosaicdb/mosaic/operator/api/v1alpha1"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/tablet/reparent"
	"github.com/mosaicdb/mosaic/tablet/tmclient"
	"github.com/mosaicdb/mosaic/topo"
	"github.com/mosaicdb/mosaic/topo/etcdstore"
)

// Topo is what the reconciler reads from and asks of a cluster's
// topology. Every method waits on etcd or tablets: ctx bounds it.
type Topo interface {
	// Read returns the shards' primaries and, per keyspace, the shards
	// serving primary traffic.
	Read(ctx context.Context, c *v1alpha1.MosaicCluster) (Topology, map[string][]string, error)
	// EnsureKeyspaces creates the keyspaces of the spec that topo lacks,
	// each with the spec's shards serving (a new keyspace's first shards).
	// Existing keyspaces are left alone: their new shards are created by
	// their tablets, not serving, for a resharding workflow.
	EnsureKeyspaces(ctx context.Context, c *v1alpha1.MosaicCluster) error
	// InitPrimary makes t the first primary of its shard.
	InitPrimary(ctx context.Context, c *v1alpha1.MosaicCluster, t Tablet) error
	// Reparent moves t's shard's primary to t (planned reparent: the
	// gates buffer the writes during the switch).
	Reparent(ctx context.Context, c *v1alpha1.MosaicCluster, t Tablet) error
}

// TopoServer is Topo over one cluster's topo.Server, reaching tablets
// in plaintext (clusters without TLS.ClusterSecret).
type TopoServer struct {
	TS  *topo.Server
	Log *slog.Logger
}

// Read implements Topo.
func (s *TopoServer) Read(ctx context.Context, c *v1alpha1.MosaicCluster) (Topology, map[string][]string, error) {
	t := Topology{Known: true, Primaries: map[string]string{}}
	serving := map[string][]string{}
	for _, ks := range c.Spec.Keyspaces {
		rec, err := s.TS.GetKeyspace(ctx, ks.Name)
		if errors.Is(err, topo.ErrNoNode) {
			continue
		}
		if err != nil {
			return Topology{}, nil, fmt.Errorf("read keyspace %s: %w", ks.Name, err)
		}
		serving[ks.Name] = topo.ServedShards(rec, topodatapb.TabletType_PRIMARY)
		names, err := s.TS.ListShards(ctx, ks.Name)
		if err != nil {
			return Topology{}, nil, fmt.Errorf("list shards of %s: %w", ks.Name, err)
		}
		for _, sh := range names {
			rec, _, err := s.TS.GetShard(ctx, ks.Name, sh)
			if errors.Is(err, topo.ErrNoNode) {
				continue
			}
			if err != nil {
				return Topology{}, nil, fmt.Errorf("read shard %s/%s: %w", ks.Name, sh, err)
			}
			if a := rec.GetPrimaryAlias(); a != nil {
				t.Primaries[shardKey(ks.Name, sh)] = topo.AliasString(a)
			}
		}
	}
	return t, serving, nil
}

// EnsureKeyspaces implements Topo.
func (s *TopoServer) EnsureKeyspaces(ctx context.Context, c *v1alpha1.MosaicCluster) error {
	for _, ks := range c.Spec.Keyspaces {
		_, err := s.TS.GetKeyspace(ctx, ks.Name)
		if err == nil {
			continue
		}
		if !errors.Is(err, topo.ErrNoNode) {
			return fmt.Errorf("read keyspace %s: %w", ks.Name, err)
		}
		var shards []string
		for _, sh := range ks.Shards {
			shards = append(shards, sh.Name)
		}
		sharded := len(shards) > 1 || shards[0] != "0"
		err = s.TS.CreateKeyspaceWithShards(ctx, ks.Name, &topodatapb.Keyspace{Sharded: sharded, DurabilityPolicy: "semi_sync"}, shards)
		if err != nil && !errors.Is(err, topo.ErrNodeExists) {
			return fmt.Errorf("create keyspace %s: %w", ks.Name, err)
		}
		s.Log.Info("keyspace created in topo", "keyspace", ks.Name, "shards", shards)
	}
	return nil
}

// InitPrimary implements Topo.
func (s *TopoServer) InitPrimary(ctx context.Context, c *v1alpha1.MosaicCluster, t Tablet) error {
	a, err := topo.ParseAlias(t.Alias())
	if err != nil {
		return err
	}
	if err := tmclient.InitShardPrimary(ctx, s.TS, nil, t.Keyspace, t.Shard, a, s.Log); err != nil {
		return fmt.Errorf("init primary %s: %w", t, err)
	}
	for _, cell := range c.Spec.Cells {
		if err := s.TS.RebuildSrvKeyspace(ctx, cell.Name, t.Keyspace); err != nil {
			return fmt.Errorf("rebuild serving graph of %s in %s: %w", t.Keyspace, cell.Name, err)
		}
	}
	return nil
}

// Reparent implements Topo.
func (s *TopoServer) Reparent(ctx context.Context, c *v1alpha1.MosaicCluster, t Tablet) error {
	a, err := topo.ParseAlias(t.Alias())
	if err != nil {
		return err
	}
	_, err = reparent.Planned(ctx, s.TS, t.Keyspace, t.Shard, reparent.Options{NewPrimary: a, Log: s.Log})
	if err != nil {
		return fmt.Errorf("planned reparent to %s: %w", t, err)
	}
	return nil
}

// TopoCache keeps one topo.Server per etcd cluster and root, for the
// operator's lifetime: clusters are reconciled every few seconds and
// connecting each time would be wasteful.
type TopoCache struct {
	log *slog.Logger
	mu  sync.Mutex
	ts  map[string]*topo.Server
}

// NewTopoCache returns an empty cache; Close closes what it opened.
func NewTopoCache(log *slog.Logger) *TopoCache {
	return &TopoCache{log: log, ts: map[string]*topo.Server{}}
}

// Open returns the Topo of cluster c. Clusters with TLS.ClusterSecret are
// refused: the operator does not yet read their certificates.
func (tc *TopoCache) Open(_ context.Context, c *v1alpha1.MosaicCluster) (Topo, error) {
	if c.Spec.TLS.ClusterSecret != "" {
		return nil, errors.New("reading the topology of a cluster with TLS.ClusterSecret is not implemented yet")
	}
	key := strings.Join(TopoEndpoints(c), ",") + "|" + TopoRoot(c)
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if ts, ok := tc.ts[key]; ok {
		return &TopoServer{TS: ts, Log: tc.log}, nil
	}
	cfg := etcdstore.DefaultConfig()
	cfg.Endpoints = TopoEndpoints(c)
	cfg.Root = TopoRoot(c)
	store, err := etcdstore.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("open topo %s: %w", key, err)
	}
	ts := topo.NewServer(store)
	tc.ts[key] = ts
	return &TopoServer{TS: ts, Log: tc.log}, nil
}

// Close closes every topo.Server opened.
func (tc *TopoCache) Close() {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	for k, ts := range tc.ts {
		ts.Close()
		delete(tc.ts, k)
	}
}
