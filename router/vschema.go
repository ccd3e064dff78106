package router

import (
	"fmt"
	"sort"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proto/vschemapb"
)

// KeyspaceInput is what the proxy knows of one keyspace from topo.
type KeyspaceInput struct {
	Name string
	// VSchema may be nil: an unsharded keyspace without a VSchema.
	VSchema *vschemapb.Keyspace
	// Shards are the shards serving the keyspace, sorted by key range.
	Shards []string
}

// Keyspace is a keyspace as the planner sees it.
type Keyspace struct {
	Name    string
	Sharded bool
	Shards  []string
	VSchema *vschemapb.Keyspace
	// Error is set when the keyspace's VSchema could not be built; queries
	// on it fail with this error rather than being planned wrongly.
	Error error
}

// VSchema is the planner's view of every keyspace. It is immutable once
// built: a change in topo builds a new one.
type VSchema struct {
	Keyspaces    map[string]*Keyspace
	RoutingRules *topodatapb.RoutingRules
}

// BuildVSchema builds the planner's view from topo's records. A keyspace
// whose VSchema is invalid is kept with its Error set.
func BuildVSchema(in []KeyspaceInput, rules *topodatapb.RoutingRules) *VSchema {
	vs := &VSchema{Keyspaces: map[string]*Keyspace{}, RoutingRules: rules}
	for _, k := range in {
		ks := &Keyspace{Name: k.Name, Shards: append([]string(nil), k.Shards...), VSchema: k.VSchema}
		if k.VSchema != nil {
			ks.Sharded = k.VSchema.Sharded
			if err := ValidateKeyspaceVSchema(k.VSchema); err != nil {
				ks.Error = fmt.Errorf("keyspace %s: %w", k.Name, err)
			}
		}
		vs.Keyspaces[k.Name] = ks
	}
	return vs
}

// KeyspaceNames returns the keyspace names, sorted.
func (vs *VSchema) KeyspaceNames() []string {
	names := make([]string, 0, len(vs.Keyspaces))
	for n := range vs.Keyspaces {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ValidateKeyspaceVSchema checks a keyspace VSchema before it is stored.
func ValidateKeyspaceVSchema(vs *vschemapb.Keyspace) error {
	if vs == nil {
		return nil
	}
	if !vs.Sharded && len(vs.Vindexes) > 0 {
		return fmt.Errorf("unsharded keyspace cannot have vindexes")
	}
	return nil
}
