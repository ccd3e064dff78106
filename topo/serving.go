package topo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/mosaicdb/mosaic/keyrange"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
)

// The serving graph: which shards serve each tablet type of a keyspace.
//
// The keyspace record's served lists are the truth (one list per type:
// PRIMARY, REPLICA, RDONLY); every cell's SrvKeyspace is built from them
// and written in the same Store.Commit as the record, so a reader never
// sees one without the other. Only the calls in this file change them:
//
//   - CreateKeyspaceWithShards, and CreateShards while nothing serves
//     yet: a new keyspace's first shards serve every type at once;
//   - CreateShards otherwise: new shards serve nothing;
//   - SwitchServedShards: a traffic switch, compare-and-swap on the
//     keyspace record's version;
//   - BeginSwitch / CancelSwitch: the "switching" flag the gates buffer
//     on, with the fence of the source primaries (their query service
//     disabled through Shard.tablet_controls).
//
// Each refuses a result whose lists overlap or leave a gap.

// Sentinel errors of the serving calls (besides the Store's ErrNoNode and
// ErrBadVersion); callers branch with errors.Is.
var (
	// ErrBadServing: the change would leave a served list that overlaps
	// or leaves a gap (it also wraps keyrange.ErrNotPartition then), or
	// names a shard that does not exist, or moves primary traffic to a
	// shard without a primary.
	ErrBadServing = errors.New("topo: invalid serving graph")
	// ErrServedMismatch: the shards the caller expects to stop serving do
	// not serve now, or those to start serving already do.
	ErrServedMismatch = errors.New("topo: the shards serving now are not the ones expected")
	// ErrSwitchUnderWay: BeginSwitch found a switch already under way.
	ErrSwitchUnderWay = errors.New("topo: a traffic switch of the keyspace is under way")
	// ErrNotSwitching: primary traffic can only move between BeginSwitch
	// (which fences the sources) and SwitchServedShards; or CancelSwitch
	// found nothing to cancel.
	ErrNotSwitching = errors.New("topo: no traffic switch of the keyspace is under way")
	// ErrShardServing: DeleteShard of a shard that serves some type.
	ErrShardServing = errors.New("topo: the shard serves traffic")
)

// ServedTypes returns the tablet types a serving graph has shards for.
func ServedTypes() []topodatapb.TabletType {
	return []topodatapb.TabletType{topodatapb.TabletType_PRIMARY, topodatapb.TabletType_REPLICA, topodatapb.TabletType_RDONLY}
}

func isServedType(tt topodatapb.TabletType) bool {
	return slices.Contains(ServedTypes(), tt)
}

// ServedShards returns the shards of ks that serve tablet type tt, in
// key-range order (nil: none). The caller owns the slice.
func ServedShards(ks *topodatapb.Keyspace, tt topodatapb.TabletType) []string {
	for _, s := range ks.GetServed() {
		if s.TabletType == tt {
			return slices.Clone(s.Shards)
		}
	}
	return nil
}

// ServedTypesOf returns the tablet types shard serves in ks.
func ServedTypesOf(ks *topodatapb.Keyspace, shard string) []topodatapb.TabletType {
	var out []topodatapb.TabletType
	for _, tt := range ServedTypes() {
		if slices.Contains(ServedShards(ks, tt), shard) {
			out = append(out, tt)
		}
	}
	return out
}

// setServed replaces the served list of tt in ks.
func setServed(ks *topodatapb.Keyspace, tt topodatapb.TabletType, shards []string) {
	shards = slices.Clone(shards)
	SortShardNames(shards)
	for _, s := range ks.Served {
		if s.TabletType == tt {
			s.Shards = shards
			return
		}
	}
	ks.Served = append(ks.Served, &topodatapb.ServedShards{TabletType: tt, Shards: shards})
	slices.SortFunc(ks.Served, func(a, b *topodatapb.ServedShards) int { return int(a.TabletType) - int(b.TabletType) })
}

// ValidateServed checks the served lists of a keyspace record: each is
// empty or covers the key range exactly once.
func ValidateServed(ks *topodatapb.Keyspace) error {
	for _, s := range ks.GetServed() {
		if !isServedType(s.TabletType) {
			return fmt.Errorf("served list for tablet type %v: %w", s.TabletType, ErrBadServing)
		}
		if len(s.Shards) == 0 {
			continue
		}
		if err := keyrange.CheckPartition(s.Shards); err != nil {
			return fmt.Errorf("%s shards %s: %w: %w", TabletTypeString(s.TabletType), keyrange.Names(s.Shards), ErrBadServing, err)
		}
	}
	return nil
}

// ValidateSrvKeyspace checks a serving graph as gates receive it: every
// partition covers the key range exactly once, and each shard's key range
// is the one its name says.
func ValidateSrvKeyspace(srv *topodatapb.SrvKeyspace) error {
	for _, p := range srv.GetPartitions() {
		names := make([]string, len(p.ShardReferences))
		for i, r := range p.ShardReferences {
			names[i] = r.Name
			kr, err := keyrange.Parse(r.Name)
			if err != nil {
				return fmt.Errorf("%s partition: %w: %w", TabletTypeString(p.ServedType), ErrBadServing, err)
			}
			if r.KeyRange != nil && !keyrange.Equal(kr, r.KeyRange) {
				return fmt.Errorf("%s partition: shard %s has key range %s: %w", TabletTypeString(p.ServedType), r.Name, keyrange.String(r.KeyRange), ErrBadServing)
			}
		}
		if len(names) == 0 {
			continue
		}
		if err := keyrange.CheckPartition(names); err != nil {
			return fmt.Errorf("%s partition %s: %w: %w", TabletTypeString(p.ServedType), keyrange.Names(names), ErrBadServing, err)
		}
	}
	return nil
}

// BuildSrvKeyspace returns the serving graph of a keyspace record: one
// partition per served type, and its switching flag.
func BuildSrvKeyspace(ks *topodatapb.Keyspace) *topodatapb.SrvKeyspace {
	srv := &topodatapb.SrvKeyspace{Switching: ks.GetSwitching()}
	for _, tt := range ServedTypes() {
		p := &topodatapb.SrvKeyspace_Partition{ServedType: tt}
		for _, name := range ServedShards(ks, tt) {
			kr, _ := keyrange.Parse(name) // validated when written
			p.ShardReferences = append(p.ShardReferences, &topodatapb.ShardReference{Name: name, KeyRange: kr})
		}
		srv.Partitions = append(srv.Partitions, p)
	}
	return srv
}

// SrvShards returns the shards a serving graph lists for tablet type tt,
// in its order; ok is false when it has no partition for tt.
func SrvShards(srv *topodatapb.SrvKeyspace, tt topodatapb.TabletType) (shards []string, ok bool) {
	for _, p := range srv.GetPartitions() {
		if p.ServedType == tt {
			for _, r := range p.ShardReferences {
				shards = append(shards, r.Name)
			}
			return shards, true
		}
	}
	return nil, false
}

// GetKeyspaceVersion reads a keyspace record with its version, for the
// compare-and-swap of SwitchServedShards, BeginSwitch and CancelSwitch.
// A record written by an older Mosaic, without served lists, comes back
// with them filled in from its shards' is_primary_serving (the next write
// stores them).
func (s *Server) GetKeyspaceVersion(ctx context.Context, name string) (*topodatapb.Keyspace, Version, error) {
	ks := &topodatapb.Keyspace{}
	v, err := s.getRecord(ctx, keyspacePath(name), ks)
	if err != nil {
		return nil, 0, fmt.Errorf("get keyspace %s: %w", name, err)
	}
	if len(ks.Served) == 0 {
		if err := s.legacyServed(ctx, name, ks); err != nil {
			return nil, 0, err
		}
	}
	return ks, v, nil
}

// legacyServed fills in the served lists of a record without any: the
// shards whose record says is_primary_serving serve every type.
func (s *Server) legacyServed(ctx context.Context, name string, ks *topodatapb.Keyspace) error {
	shards, err := s.ListShards(ctx, name)
	if err != nil {
		return err
	}
	var serving []string
	for _, sh := range shards {
		rec, _, err := s.GetShard(ctx, name, sh)
		if errors.Is(err, ErrNoNode) {
			continue
		}
		if err != nil {
			return err
		}
		if rec.IsPrimaryServing {
			serving = append(serving, sh)
		}
	}
	for _, tt := range ServedTypes() {
		setServed(ks, tt, serving)
	}
	return nil
}

// servingCells returns the cells whose serving graph of ks a change must
// rewrite: those that have one, and those where ks has tablets.
func (s *Server) servingCells(ctx context.Context, ks string) ([]string, error) {
	kvs, err := s.store.List(ctx, cellsDir+"/")
	if err != nil {
		return nil, err
	}
	var cells []string
	for _, kv := range kvs {
		parts := strings.Split(kv.Key, "/")
		if len(parts) == 4 && parts[2] == "serving" && parts[3] == ks {
			cells = append(cells, parts[1])
		}
	}
	tablets, err := s.ListTablets(ctx)
	if err != nil {
		return nil, err
	}
	for _, t := range tablets {
		if t.Keyspace == ks && t.Alias.GetCell() != "" {
			cells = append(cells, t.Alias.Cell)
		}
	}
	slices.Sort(cells)
	return slices.Compact(cells), nil
}

// keyspaceOps returns the ops that write ks at version v (0: create it)
// and its serving graph in every cell that must have it.
func (s *Server) keyspaceOps(ctx context.Context, name string, ks *topodatapb.Keyspace, v Version) ([]Op, error) {
	if err := ValidateServed(ks); err != nil {
		return nil, err
	}
	data, err := Marshal(ks)
	if err != nil {
		return nil, err
	}
	op := Op{Kind: OpPut, Key: keyspacePath(name), Value: data, Version: v}
	if v == 0 {
		op.Kind = OpCreate
	}
	ops := []Op{op}
	cells, err := s.servingCells(ctx, name)
	if err != nil {
		return nil, err
	}
	srv, err := Marshal(BuildSrvKeyspace(ks))
	if err != nil {
		return nil, err
	}
	for _, cell := range cells {
		key := srvKeyspacePath(cell, name)
		_, sv, err := s.store.Get(ctx, key)
		switch {
		case errors.Is(err, ErrNoNode):
			ops = append(ops, Op{Kind: OpCreate, Key: key, Value: srv})
		case err != nil:
			return nil, err
		default:
			ops = append(ops, Op{Kind: OpPut, Key: key, Value: srv, Version: sv})
		}
	}
	return ops, nil
}

// shardOp returns the op that writes a shard record at version v.
func shardOp(ks, shard string, rec *topodatapb.Shard, v Version) (Op, error) {
	data, err := Marshal(rec)
	if err != nil {
		return Op{}, err
	}
	return Op{Kind: OpPut, Key: shardPath(ks, shard), Value: data, Version: v}, nil
}

// commitKeyspace runs build against the keyspace record read at its
// current version until its commit succeeds or fails for a reason other
// than a race on the records it only derives (serving graphs, shard
// records read inside build). When want is not 0 the record must be at
// that version: a record that moved is ErrBadVersion.
func (s *Server) commitKeyspace(ctx context.Context, name string, want Version, build func(ks *topodatapb.Keyspace, v Version) ([]Op, error)) (Version, error) {
	for attempt := 0; ; attempt++ {
		ks, v, err := s.GetKeyspaceVersion(ctx, name)
		if err != nil {
			return 0, err
		}
		if want != 0 && v != want {
			return 0, fmt.Errorf("keyspace %s is at version %d, not %d: %w", name, v, want, ErrBadVersion)
		}
		ops, err := build(ks, v)
		if err != nil {
			return 0, err
		}
		nv, err := s.store.Commit(ctx, ops)
		if err == nil {
			return nv, nil
		}
		if !errors.Is(err, ErrBadVersion) && !errors.Is(err, ErrNodeExists) || attempt >= 20 || ctx.Err() != nil {
			return 0, err
		}
		// Something moved between the reads and the commit: read again.
		// A moved keyspace record with want set fails above.
	}
}

// CreateKeyspaceWithShards creates a keyspace record and its first
// shards in one step; the shards must cover the key range exactly once
// and serve every tablet type at once (nothing to switch yet). ErrNodeExists
// when the keyspace or one of the shards exists.
func (s *Server) CreateKeyspaceWithShards(ctx context.Context, name string, ks *topodatapb.Keyspace, shards []string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if err := keyrange.CheckPartition(shards); err != nil {
		return fmt.Errorf("keyspace %s shards %s: %w: %w", name, keyrange.Names(shards), ErrBadServing, err)
	}
	ks = cloneKeyspace(ks)
	ks.Switching = nil
	for _, tt := range ServedTypes() {
		setServed(ks, tt, shards)
	}
	ops, err := s.keyspaceOps(ctx, name, ks, 0)
	if err != nil {
		return err
	}
	for _, sh := range shards {
		kr, _ := keyrange.Parse(sh)
		data, err := Marshal(&topodatapb.Shard{KeyRange: kr})
		if err != nil {
			return err
		}
		ops = append(ops, Op{Kind: OpCreate, Key: shardPath(name, sh), Value: data})
	}
	if _, err := s.store.Commit(ctx, ops); err != nil {
		return fmt.Errorf("create keyspace %s with shards %s: %w", name, keyrange.Names(shards), err)
	}
	return nil
}

// CreateShards creates shard records, all or none (ErrNodeExists when
// one exists, or has the same key range as an existing one). New shards
// serve nothing: only a traffic switch makes them serve. The exception is
// a keyspace that serves nothing yet: when its shards and the new ones
// cover the key range exactly once, they all start serving every type
// (the shards of a new keyspace, created one by one as their first
// tablets start).
func (s *Server) CreateShards(ctx context.Context, name string, shards []string) error {
	for _, sh := range shards {
		if _, err := keyrange.Parse(sh); err != nil {
			return err
		}
	}
	_, err := s.commitKeyspace(ctx, name, 0, func(ks *topodatapb.Keyspace, v Version) ([]Op, error) {
		existing, err := s.ListShards(ctx, name)
		if err != nil {
			return nil, err
		}
		var ops []Op
		for i, sh := range shards {
			kr, _ := keyrange.Parse(sh)
			for _, other := range append(slices.Clone(existing), shards[:i]...) {
				okr, err := keyrange.Parse(other)
				if err == nil && (other == sh || keyrange.Equal(kr, okr)) {
					return nil, fmt.Errorf("shard %s/%s: same key range as %s: %w", name, sh, other, ErrNodeExists)
				}
			}
			data, err := Marshal(&topodatapb.Shard{KeyRange: kr})
			if err != nil {
				return nil, err
			}
			ops = append(ops, Op{Kind: OpCreate, Key: shardPath(name, sh), Value: data})
		}
		servesNothing := true
		for _, tt := range ServedTypes() {
			servesNothing = servesNothing && len(ServedShards(ks, tt)) == 0
		}
		all := append(slices.Clone(existing), shards...)
		if servesNothing && keyrange.CheckPartition(all) == nil {
			for _, tt := range ServedTypes() {
				setServed(ks, tt, all)
			}
		}
		// The keyspace record is written even when unchanged: two
		// creations at once must not both see "serves nothing" and an
		// incomplete set.
		kops, err := s.keyspaceOps(ctx, name, ks, v)
		if err != nil {
			return nil, err
		}
		return append(kops, ops...), nil
	})
	if err != nil {
		return fmt.Errorf("create shards %s/%s: %w", name, keyrange.Names(shards), err)
	}
	return nil
}

// CreateShard is CreateShards of one shard.
func (s *Server) CreateShard(ctx context.Context, ks, shard string) error {
	return s.CreateShards(ctx, ks, []string{shard})
}

// DeleteShard removes a shard record. A shard that serves some tablet
// type is refused with ErrShardServing (switch its traffic away first);
// ErrNoNode when there is no such shard.
func (s *Server) DeleteShard(ctx context.Context, name, shard string) error {
	_, err := s.commitKeyspace(ctx, name, 0, func(ks *topodatapb.Keyspace, v Version) ([]Op, error) {
		if types := ServedTypesOf(ks, shard); len(types) > 0 {
			var names []string
			for _, tt := range types {
				names = append(names, TabletTypeString(tt))
			}
			return nil, fmt.Errorf("shard %s/%s serves %s: %w", name, shard, strings.Join(names, ", "), ErrShardServing)
		}
		return []Op{
			{Kind: OpCheck, Key: keyspacePath(name), Version: v},
			{Kind: OpDelete, Key: shardPath(name, shard)},
		}, nil
	})
	if err != nil {
		return fmt.Errorf("delete shard %s/%s: %w", name, shard, err)
	}
	return nil
}

// SwitchRequest moves the serving shards of some tablet types of a
// keyspace (see SwitchServedShards).
type SwitchRequest struct {
	Keyspace string
	// TabletTypes are switched together: PRIMARY, REPLICA, RDONLY.
	TabletTypes []topodatapb.TabletType
	// From are shards that serve each of TabletTypes now and stop; To
	// are shards that serve none of them now and start. Shards in
	// neither keep serving what they serve.
	From, To []string
	// KeyspaceVersion is the version of the keyspace record the caller
	// decided on (GetKeyspaceVersion): if the record moved since, the
	// switch fails with ErrBadVersion, so two switches cannot both apply.
	// Zero skips the check.
	KeyspaceVersion Version
	// Also are more ops committed in the same step, on other keys than
	// the switch's (the reshard workflow's records, with their versions):
	// the switch applies with them or not at all. A failed one fails the
	// switch with its error (ErrBadVersion, ErrNodeExists, ErrNoNode).
	Also []Op
}

// SwitchServedShards switches traffic in one Store.Commit: the keyspace
// record's served lists of req.TabletTypes lose req.From and gain req.To,
// every cell's serving graph is rewritten to match, and for PRIMARY the
// query service of the To shards' primaries is enabled (a shard that
// serves primary traffic is never fenced) while the From shards stay
// fenced; the types switched leave the keyspace's switching flag, and
// with it the gates' buffers. It returns the keyspace record's new
// version. Refusals change nothing:
//
//   - ErrBadVersion: the keyspace record is not at req.KeyspaceVersion;
//   - ErrServedMismatch: a From shard does not serve a type switched, or
//     a To shard serves one already;
//   - ErrBadServing: a resulting list overlaps or leaves a gap, a To
//     shard has no record, or (PRIMARY) no primary;
//   - ErrNotSwitching: PRIMARY is switched outside BeginSwitch, whose
//     fence of the sources keeps writes from landing behind the switch.
//
// Races on records the switch only derives (serving graphs, the To
// shards' records) are retried inside.
func (s *Server) SwitchServedShards(ctx context.Context, req SwitchRequest) (Version, error) {
	if len(req.TabletTypes) == 0 || len(req.To) == 0 && len(req.From) == 0 {
		return 0, fmt.Errorf("switch traffic of %s: no tablet types or no shards given", req.Keyspace)
	}
	for _, tt := range req.TabletTypes {
		if !isServedType(tt) {
			return 0, fmt.Errorf("switch traffic of %s: tablet type %v has no serving shards", req.Keyspace, tt)
		}
	}
	primary := slices.Contains(req.TabletTypes, topodatapb.TabletType_PRIMARY)
	v, err := s.commitKeyspace(ctx, req.Keyspace, req.KeyspaceVersion, func(ks *topodatapb.Keyspace, v Version) ([]Op, error) {
		if primary && !slices.Contains(ks.GetSwitching().GetTabletTypes(), topodatapb.TabletType_PRIMARY) {
			return nil, fmt.Errorf("primary traffic moves only after BeginSwitch fenced the sources: %w", ErrNotSwitching)
		}
		for _, tt := range req.TabletTypes {
			now := ServedShards(ks, tt)
			for _, sh := range req.From {
				if !slices.Contains(now, sh) {
					return nil, fmt.Errorf("shard %s does not serve %s (serving: %s): %w", sh, TabletTypeString(tt), keyrange.Names(now), ErrServedMismatch)
				}
			}
			for _, sh := range req.To {
				if slices.Contains(now, sh) {
					return nil, fmt.Errorf("shard %s serves %s already: %w", sh, TabletTypeString(tt), ErrServedMismatch)
				}
			}
			next := slices.DeleteFunc(now, func(sh string) bool { return slices.Contains(req.From, sh) })
			next = append(next, req.To...)
			if err := keyrange.CheckPartition(next); err != nil {
				return nil, fmt.Errorf("%s would be served by %s: %w: %w", TabletTypeString(tt), keyrange.Names(next), ErrBadServing, err)
			}
			setServed(ks, tt, next)
		}
		if sw := ks.Switching; sw != nil {
			sw.TabletTypes = slices.DeleteFunc(sw.TabletTypes, func(tt topodatapb.TabletType) bool { return slices.Contains(req.TabletTypes, tt) })
			if len(sw.TabletTypes) == 0 {
				ks.Switching = nil
			}
		}
		ops, err := s.keyspaceOps(ctx, req.Keyspace, ks, v)
		if err != nil {
			return nil, err
		}
		for _, sh := range req.To {
			rec, sv, err := s.GetShard(ctx, req.Keyspace, sh)
			if errors.Is(err, ErrNoNode) {
				return nil, fmt.Errorf("shard %s does not exist: %w", sh, ErrBadServing)
			}
			if err != nil {
				return nil, err
			}
			if !primary {
				ops = append(ops, Op{Kind: OpCheck, Key: shardPath(req.Keyspace, sh), Version: sv})
				continue
			}
			if rec.PrimaryAlias == nil {
				return nil, fmt.Errorf("shard %s has no primary: %w", sh, ErrBadServing)
			}
			SetQueryServiceDisabled(rec, topodatapb.TabletType_PRIMARY, false)
			op, err := shardOp(req.Keyspace, sh, rec, sv)
			if err != nil {
				return nil, err
			}
			ops = append(ops, op)
		}
		return append(ops, req.Also...), nil
	})
	if err != nil {
		return 0, fmt.Errorf("switch %s traffic of %s from %s to %s: %w", typeNames(req.TabletTypes), req.Keyspace, keyrange.Names(req.From), keyrange.Names(req.To), err)
	}
	return v, nil
}

// BeginSwitchRequest starts a traffic switch (see BeginSwitch).
type BeginSwitchRequest struct {
	Keyspace string
	// TabletTypes the gates buffer from now on (PRIMARY for a switch of
	// writes).
	TabletTypes []topodatapb.TabletType
	// Fence are shards serving PRIMARY now whose primaries stop serving
	// in the same step: their query service is disabled, so they refuse
	// new statements and let open transactions finish (the sources of a
	// switch of primary traffic).
	Fence []string
	// KeyspaceVersion is the version of the keyspace record the caller
	// decided on; 0 skips the check.
	KeyspaceVersion Version
	// Reason says who switches, for people reading the record.
	Reason string
	// StartedUnixNano is when the switch began; 0 leaves it unset.
	StartedUnixNano int64
}

// BeginSwitch sets the keyspace's switching flag (gates buffer statements
// of req.TabletTypes for the keyspace) and fences req.Fence, in one
// Store.Commit with every cell's serving graph. The tablets obey the
// fence by watching their shard record, or at once when asked with the
// RefreshState RPC, which returns when they have drained. Refusals change
// nothing: ErrBadVersion (the record moved), ErrSwitchUnderWay, and
// ErrServedMismatch (a fenced shard does not serve PRIMARY). Undo it with
// CancelSwitch; SwitchServedShards ends it.
func (s *Server) BeginSwitch(ctx context.Context, req BeginSwitchRequest) (Version, error) {
	if len(req.TabletTypes) == 0 {
		return 0, fmt.Errorf("begin switch of %s: no tablet types given", req.Keyspace)
	}
	for _, tt := range req.TabletTypes {
		if !isServedType(tt) {
			return 0, fmt.Errorf("begin switch of %s: tablet type %v has no serving shards", req.Keyspace, tt)
		}
	}
	v, err := s.commitKeyspace(ctx, req.Keyspace, req.KeyspaceVersion, func(ks *topodatapb.Keyspace, v Version) ([]Op, error) {
		if ks.Switching != nil {
			return nil, fmt.Errorf("%s (%s): %w", typeNames(ks.Switching.TabletTypes), ks.Switching.Reason, ErrSwitchUnderWay)
		}
		ks.Switching = &topodatapb.TrafficSwitch{TabletTypes: slices.Clone(req.TabletTypes), StartedUnixNano: req.StartedUnixNano, Reason: req.Reason}
		ops, err := s.keyspaceOps(ctx, req.Keyspace, ks, v)
		if err != nil {
			return nil, err
		}
		serving := ServedShards(ks, topodatapb.TabletType_PRIMARY)
		for _, sh := range req.Fence {
			if !slices.Contains(serving, sh) {
				return nil, fmt.Errorf("fence shard %s: it does not serve primary (serving: %s): %w", sh, keyrange.Names(serving), ErrServedMismatch)
			}
			rec, sv, err := s.GetShard(ctx, req.Keyspace, sh)
			if err != nil {
				return nil, err
			}
			SetQueryServiceDisabled(rec, topodatapb.TabletType_PRIMARY, true)
			op, err := shardOp(req.Keyspace, sh, rec, sv)
			if err != nil {
				return nil, err
			}
			ops = append(ops, op)
		}
		return ops, nil
	})
	if err != nil {
		return 0, fmt.Errorf("begin %s switch of %s: %w", typeNames(req.TabletTypes), req.Keyspace, err)
	}
	return v, nil
}

// CancelSwitch ends a switch without moving traffic: it clears the
// keyspace's switching flag and enables the query service of every shard
// that serves PRIMARY (the fenced sources take writes again), in one
// Store.Commit. keyspaceVersion 0 skips the version check. ErrNotSwitching
// when no switch is under way.
func (s *Server) CancelSwitch(ctx context.Context, name string, keyspaceVersion Version) (Version, error) {
	v, err := s.EndSwitch(ctx, EndSwitchRequest{Keyspace: name, KeyspaceVersion: keyspaceVersion})
	if err != nil {
		return 0, fmt.Errorf("cancel the switch of %s: %w", name, err)
	}
	return v, nil
}

// EndSwitchRequest ends a switch without moving the serving graph (see
// EndSwitch).
type EndSwitchRequest struct {
	Keyspace string
	// KeyspaceVersion is the version the caller decided on; 0 skips the
	// check.
	KeyspaceVersion Version
	// DenyTables are denied (TabletControl.denied_tables) to the primary
	// tablets of the keyspace's primary shards in the same commit: a table
	// move's tables leaving the keyspace. Replicas keep serving them:
	// reads are never held at a switch, and a gate may read a replica it
	// routed to before it saw the switch.
	DenyTables []string
	// Also are more ops on other keys (a table move's routing rules and
	// workflow records), committed with the rest or not at all.
	Also []Op
}

// EndSwitch ends a switch without moving the keyspace's serving graph,
// as CancelSwitch does (the flag goes, the fenced primaries serve again),
// denies req.DenyTables on the keyspace's shards, and commits req.Also in
// the same Store.Commit: a table move fences the keyspace its tables
// leave with BeginSwitch and moves their traffic with the routing rules
// in Also. A failed op of Also fails it all with its error;
// ErrNotSwitching when no switch is under way.
func (s *Server) EndSwitch(ctx context.Context, req EndSwitchRequest) (Version, error) {
	name := req.Keyspace
	return s.commitKeyspace(ctx, name, req.KeyspaceVersion, func(ks *topodatapb.Keyspace, v Version) ([]Op, error) {
		if ks.Switching == nil {
			return nil, ErrNotSwitching
		}
		ks.Switching = nil
		ops, err := s.keyspaceOps(ctx, name, ks, v)
		if err != nil {
			return nil, err
		}
		for _, sh := range ServedShards(ks, topodatapb.TabletType_PRIMARY) {
			rec, sv, err := s.GetShard(ctx, name, sh)
			if err != nil {
				return nil, err
			}
			changed := false
			if QueryServiceDisabled(rec, topodatapb.TabletType_PRIMARY) {
				SetQueryServiceDisabled(rec, topodatapb.TabletType_PRIMARY, false)
				changed = true
			}
			if SetDeniedTables(rec, topodatapb.TabletType_PRIMARY, req.DenyTables, true) {
				changed = true
			}
			if !changed {
				continue
			}
			op, err := shardOp(name, sh, rec, sv)
			if err != nil {
				return nil, err
			}
			ops = append(ops, op)
		}
		return append(ops, req.Also...), nil
	})
}

// DenyTablesOps returns the Store.Commit ops that add tables to the
// denied tables of the primary tablets (deny), or take them out of those
// of every tablet type, of every shard of ks, each on condition that the
// shard record has not moved; shards whose record would not change get
// no op.
func (s *Server) DenyTablesOps(ctx context.Context, ks string, tables []string, deny bool) ([]Op, error) {
	shards, err := s.ListShards(ctx, ks)
	if err != nil {
		return nil, err
	}
	var ops []Op
	for _, sh := range shards {
		rec, sv, err := s.GetShard(ctx, ks, sh)
		if errors.Is(err, ErrNoNode) {
			continue
		}
		if err != nil {
			return nil, err
		}
		changed := false
		for _, tt := range ServedTypes() {
			if (!deny || tt == topodatapb.TabletType_PRIMARY) && SetDeniedTables(rec, tt, tables, deny) {
				changed = true
			}
		}
		if !changed {
			continue
		}
		op, err := shardOp(ks, sh, rec, sv)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// QueryServiceDisabled reports whether the shard record disables the
// query service of its tablets of type tt.
func QueryServiceDisabled(sh *topodatapb.Shard, tt topodatapb.TabletType) bool {
	for _, tc := range sh.GetTabletControls() {
		if tc.TabletType == tt && tc.DisableQueryService {
			return true
		}
	}
	return false
}

// SetQueryServiceDisabled sets or clears the disable_query_service
// control of tablet type tt in sh.
func SetQueryServiceDisabled(sh *topodatapb.Shard, tt topodatapb.TabletType, disabled bool) {
	for i, tc := range sh.TabletControls {
		if tc.TabletType != tt {
			continue
		}
		tc.DisableQueryService = disabled
		if !disabled && len(tc.DeniedTables) == 0 {
			sh.TabletControls = slices.Delete(sh.TabletControls, i, i+1)
		}
		return
	}
	if disabled {
		sh.TabletControls = append(sh.TabletControls, &topodatapb.TabletControl{TabletType: tt, DisableQueryService: true})
	}
}

// DeniedTables returns the tables the shard record denies to its tablets
// of type tt (a table move switched them away); the caller owns the
// slice.
func DeniedTables(sh *topodatapb.Shard, tt topodatapb.TabletType) []string {
	for _, tc := range sh.GetTabletControls() {
		if tc.TabletType == tt {
			return slices.Clone(tc.DeniedTables)
		}
	}
	return nil
}

// SetDeniedTables adds (deny) or removes tables from those sh denies to
// its tablets of type tt, and reports whether that changed the record.
func SetDeniedTables(sh *topodatapb.Shard, tt topodatapb.TabletType, tables []string, deny bool) bool {
	var tc *topodatapb.TabletControl
	idx := -1
	for i, c := range sh.TabletControls {
		if c.TabletType == tt {
			tc, idx = c, i
		}
	}
	if tc == nil {
		if !deny || len(tables) == 0 {
			return false
		}
		tc = &topodatapb.TabletControl{TabletType: tt}
		sh.TabletControls = append(sh.TabletControls, tc)
		idx = len(sh.TabletControls) - 1
	}
	before := slices.Clone(tc.DeniedTables)
	has := func(t string) bool {
		return slices.ContainsFunc(tc.DeniedTables, func(d string) bool { return strings.EqualFold(d, t) })
	}
	for _, t := range tables {
		switch {
		case deny && !has(t):
			tc.DeniedTables = append(tc.DeniedTables, t)
		case !deny:
			tc.DeniedTables = slices.DeleteFunc(tc.DeniedTables, func(d string) bool { return strings.EqualFold(d, t) })
		}
	}
	slices.Sort(tc.DeniedTables)
	if len(tc.DeniedTables) == 0 && !tc.DisableQueryService {
		sh.TabletControls = slices.Delete(sh.TabletControls, idx, idx+1)
	}
	return !slices.Equal(before, tc.DeniedTables)
}

// GetServingGraph returns the serving graph a gate in cell routes ks by:
// the cell's SrvKeyspace, or one built from the keyspace record when the
// cell has none yet. It does not validate it (ValidateSrvKeyspace).
func (s *Server) GetServingGraph(ctx context.Context, cell, ks string) (*topodatapb.SrvKeyspace, error) {
	srv, err := s.GetSrvKeyspace(ctx, cell, ks)
	if err == nil || !errors.Is(err, ErrNoNode) {
		return srv, err
	}
	rec, _, err := s.GetKeyspaceVersion(ctx, ks)
	if err != nil {
		return nil, err
	}
	return BuildSrvKeyspace(rec), nil
}

// RebuildSrvKeyspace writes the serving graph of ks in cell from the
// keyspace record, on condition that the record has not moved meanwhile.
// It never changes which shards serve.
func (s *Server) RebuildSrvKeyspace(ctx context.Context, cell, ks string) error {
	_, err := s.commitKeyspace(ctx, ks, 0, func(rec *topodatapb.Keyspace, v Version) ([]Op, error) {
		if err := ValidateServed(rec); err != nil {
			return nil, err
		}
		data, err := Marshal(BuildSrvKeyspace(rec))
		if err != nil {
			return nil, err
		}
		return []Op{
			{Kind: OpCheck, Key: keyspacePath(ks), Version: v},
			{Kind: OpPut, Key: srvKeyspacePath(cell, ks), Value: data},
		}, nil
	})
	if err != nil {
		return fmt.Errorf("rebuild the serving graph of %s in %s: %w", ks, cell, err)
	}
	return nil
}

func typeNames(types []topodatapb.TabletType) string {
	names := make([]string, len(types))
	for i, tt := range types {
		names[i] = TabletTypeString(tt)
	}
	return strings.Join(names, ",")
}

func cloneKeyspace(ks *topodatapb.Keyspace) *topodatapb.Keyspace {
	if ks == nil {
		return &topodatapb.Keyspace{}
	}
	return proto.Clone(ks).(*topodatapb.Keyspace)
}
