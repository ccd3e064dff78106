package topo

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proto/vschemapb"
)

// CreateKeyspace creates the keyspace record (ErrNodeExists if present),
// serving nothing: its shards serve once they cover the key range (see
// CreateShards), or use CreateKeyspaceWithShards. Served lists and a
// switching flag in ks are ignored.
func (s *Server) CreateKeyspace(ctx context.Context, name string, ks *topodatapb.Keyspace) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	ks = cloneKeyspace(ks)
	ks.Served, ks.Switching = nil, nil
	for _, tt := range ServedTypes() {
		setServed(ks, tt, nil)
	}
	return s.createRecord(ctx, keyspacePath(name), ks)
}

// GetKeyspace reads a keyspace record (ErrNoNode if missing); see
// GetKeyspaceVersion.
func (s *Server) GetKeyspace(ctx context.Context, name string) (*topodatapb.Keyspace, error) {
	ks, _, err := s.GetKeyspaceVersion(ctx, name)
	return ks, err
}

// ListKeyspaces returns the names of all keyspaces, sorted.
func (s *Server) ListKeyspaces(ctx context.Context) ([]string, error) {
	kvs, err := s.store.List(ctx, keyspacesDir+"/")
	if err != nil {
		return nil, err
	}
	return childNames(keyspacesDir, kvs), nil
}

// DeleteKeyspace removes a keyspace record with its shards and VSchema.
func (s *Server) DeleteKeyspace(ctx context.Context, name string) error {
	kvs, err := s.store.List(ctx, keyspacePath(name)+"/")
	if err != nil {
		return err
	}
	for _, kv := range kvs {
		if err := s.store.Delete(ctx, kv.Key, 0); err != nil && !errors.Is(err, ErrNoNode) {
			return err
		}
	}
	return s.store.Delete(ctx, keyspacePath(name), 0)
}

// GetShard reads a shard record and its version.
func (s *Server) GetShard(ctx context.Context, ks, shard string) (*topodatapb.Shard, Version, error) {
	sh := &topodatapb.Shard{}
	v, err := s.getRecord(ctx, shardPath(ks, shard), sh)
	if err != nil {
		return nil, 0, fmt.Errorf("get shard %s/%s: %w", ks, shard, err)
	}
	return sh, v, nil
}

// UpdateShardFields applies update to the shard record with compare-and-swap.
func (s *Server) UpdateShardFields(ctx context.Context, ks, shard string, update func(*topodatapb.Shard) error) (*topodatapb.Shard, error) {
	return updateFields(ctx, s, shardPath(ks, shard), func() *topodatapb.Shard { return &topodatapb.Shard{} }, false, update)
}

// ListShards returns the shard names of a keyspace, sorted by key range.
func (s *Server) ListShards(ctx context.Context, ks string) ([]string, error) {
	kvs, err := s.store.List(ctx, shardsDir(ks)+"/")
	if err != nil {
		return nil, err
	}
	names := childNames(shardsDir(ks), kvs)
	SortShardNames(names)
	return names, nil
}

// SaveVSchema stores a keyspace's VSchema. The caller validates it first.
func (s *Server) SaveVSchema(ctx context.Context, ks string, vs *vschemapb.Keyspace) error {
	if _, err := s.GetKeyspace(ctx, ks); err != nil {
		return err
	}
	_, err := s.updateRecord(ctx, vschemaPath(ks), vs, 0)
	return err
}

// GetVSchema reads a keyspace's VSchema (ErrNoNode if none was applied).
func (s *Server) GetVSchema(ctx context.Context, ks string) (*vschemapb.Keyspace, error) {
	vs := &vschemapb.Keyspace{}
	if _, err := s.getRecord(ctx, vschemaPath(ks), vs); err != nil {
		return nil, fmt.Errorf("get vschema %s: %w", ks, err)
	}
	return vs, nil
}

// CreateTablet registers a new tablet record.
func (s *Server) CreateTablet(ctx context.Context, t *topodatapb.Tablet) error {
	return s.createRecord(ctx, tabletPath(AliasString(t.Alias)), t)
}

// SaveTablet writes a tablet record unconditionally (create or replace).
// A tablet agent owns its own record, so it may overwrite it.
func (s *Server) SaveTablet(ctx context.Context, t *topodatapb.Tablet) error {
	_, err := s.updateRecord(ctx, tabletPath(AliasString(t.Alias)), t, 0)
	return err
}

// GetTablet reads a tablet record.
func (s *Server) GetTablet(ctx context.Context, alias *topodatapb.TabletAlias) (*topodatapb.Tablet, error) {
	t := &topodatapb.Tablet{}
	if _, err := s.getRecord(ctx, tabletPath(AliasString(alias)), t); err != nil {
		return nil, fmt.Errorf("get tablet %s: %w", AliasString(alias), err)
	}
	return t, nil
}

// UpdateTabletFields applies update to a tablet record with compare-and-swap.
func (s *Server) UpdateTabletFields(ctx context.Context, alias *topodatapb.TabletAlias, update func(*topodatapb.Tablet) error) (*topodatapb.Tablet, error) {
	return updateFields(ctx, s, tabletPath(AliasString(alias)), func() *topodatapb.Tablet { return &topodatapb.Tablet{} }, false, update)
}

// DeleteTablet removes a tablet record.
func (s *Server) DeleteTablet(ctx context.Context, alias *topodatapb.TabletAlias) error {
	return s.store.Delete(ctx, tabletPath(AliasString(alias)), 0)
}

// ListTablets returns every tablet record, sorted by alias.
func (s *Server) ListTablets(ctx context.Context) ([]*topodatapb.Tablet, error) {
	kvs, err := s.store.List(ctx, tabletsDir+"/")
	if err != nil {
		return nil, err
	}
	out := make([]*topodatapb.Tablet, 0, len(kvs))
	for _, kv := range kvs {
		t := &topodatapb.Tablet{}
		if err := Unmarshal(kv.Value, t); err != nil {
			return nil, fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		out = append(out, t)
	}
	return out, nil
}

// ShardTablets returns the tablets of one shard.
func (s *Server) ShardTablets(ctx context.Context, ks, shard string) ([]*topodatapb.Tablet, error) {
	all, err := s.ListTablets(ctx)
	if err != nil {
		return nil, err
	}
	var out []*topodatapb.Tablet
	for _, t := range all {
		if t.Keyspace == ks && t.Shard == shard {
			out = append(out, t)
		}
	}
	return out, nil
}

// SaveSrvKeyspace writes the serving graph of a keyspace in a cell as
// given, after ValidateSrvKeyspace. The calls of serving.go keep it in
// step with the keyspace record; this is for repairs and tests.
func (s *Server) SaveSrvKeyspace(ctx context.Context, cell, ks string, srv *topodatapb.SrvKeyspace) error {
	if err := ValidateSrvKeyspace(srv); err != nil {
		return err
	}
	_, err := s.updateRecord(ctx, srvKeyspacePath(cell, ks), srv, 0)
	return err
}

// GetSrvKeyspace reads the serving graph of a keyspace in a cell.
func (s *Server) GetSrvKeyspace(ctx context.Context, cell, ks string) (*topodatapb.SrvKeyspace, error) {
	srv := &topodatapb.SrvKeyspace{}
	if _, err := s.getRecord(ctx, srvKeyspacePath(cell, ks), srv); err != nil {
		return nil, fmt.Errorf("get serving graph %s/%s: %w", cell, ks, err)
	}
	return srv, nil
}

// SaveRoutingRules writes the global routing rules.
func (s *Server) SaveRoutingRules(ctx context.Context, rr *topodatapb.RoutingRules) error {
	_, err := s.updateRecord(ctx, routingRuleKey, rr, 0)
	return err
}

// GetRoutingRules reads the routing rules; none stored is an empty set.
func (s *Server) GetRoutingRules(ctx context.Context) (*topodatapb.RoutingRules, error) {
	rr := &topodatapb.RoutingRules{}
	if _, err := s.getRecord(ctx, routingRuleKey, rr); err != nil && !errors.Is(err, ErrNoNode) {
		return nil, err
	}
	return rr, nil
}

// GetRoutingRulesVersion reads the routing rules and their version (0
// and an empty set when none are stored), for RoutingRulesOp.
func (s *Server) GetRoutingRulesVersion(ctx context.Context) (*topodatapb.RoutingRules, Version, error) {
	rr := &topodatapb.RoutingRules{}
	v, err := s.getRecord(ctx, routingRuleKey, rr)
	if errors.Is(err, ErrNoNode) {
		return rr, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("get routing rules: %w", err)
	}
	return rr, v, nil
}

// RoutingRulesOp returns the Store.Commit op that writes rr: a creation
// when v is 0 (the record must not exist), else a write on condition
// that the record is at version v.
func RoutingRulesOp(rr *topodatapb.RoutingRules, v Version) (Op, error) {
	data, err := Marshal(rr)
	if err != nil {
		return Op{}, err
	}
	op := Op{Kind: OpPut, Key: routingRuleKey, Value: data, Version: v}
	if v == 0 {
		op.Kind = OpCreate
	}
	return op, nil
}

// SaveRoutingRulesVersion writes rr if the record is at version v (0: it
// must not exist): ErrBadVersion or ErrNodeExists when it moved.
func (s *Server) SaveRoutingRulesVersion(ctx context.Context, rr *topodatapb.RoutingRules, v Version) (Version, error) {
	op, err := RoutingRulesOp(rr, v)
	if err != nil {
		return 0, err
	}
	nv, err := s.store.Commit(ctx, []Op{op})
	if err != nil {
		return 0, fmt.Errorf("save routing rules: %w", err)
	}
	return nv, nil
}

// LockShard takes the lock of one shard, used by reparent and reshard.
func (s *Server) LockShard(ctx context.Context, ks, shard string) (Unlocker, error) {
	u, err := s.store.Lock(ctx, path.Join(locksDir, keyspacesDir, ks, shard))
	if err != nil {
		return nil, fmt.Errorf("lock shard %s/%s: %w", ks, shard, err)
	}
	return u, nil
}

// LockKeyspace takes the lock of a keyspace, used by resharding.
func (s *Server) LockKeyspace(ctx context.Context, ks string) (Unlocker, error) {
	u, err := s.store.Lock(ctx, path.Join(locksDir, keyspacesDir, ks))
	if err != nil {
		return nil, fmt.Errorf("lock keyspace %s: %w", ks, err)
	}
	return u, nil
}

// ValidateName checks a keyspace or cell name: letters, digits, '_' and '-'.
func ValidateName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("invalid name %q: must be 1 to 64 characters", name)
	}
	if strings.IndexFunc(name, func(r rune) bool {
		return !(r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) >= 0 {
		return fmt.Errorf("invalid name %q: only letters, digits, '_' and '-'", name)
	}
	return nil
}
