package router

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/mosaicdb/mosaic/keyrange"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proto/vschemapb"
	"github.com/mosaicdb/mosaic/router/vindexes"
)

// KeyspaceInput is what the proxy knows of one keyspace from topo.
type KeyspaceInput struct {
	Name string
	// VSchema may be nil: an unsharded keyspace without a VSchema.
	VSchema *vschemapb.Keyspace
	// Shards are the shards serving the keyspace's primary traffic,
	// sorted by key range.
	Shards []string
	// ReadShards are the shards serving reads of a tablet type (REPLICA,
	// RDONLY) where they are not Shards: a reshard moves reads first.
	ReadShards map[topodatapb.TabletType][]string
	// Err, when set, says why the keyspace cannot be routed (its serving
	// graph was refused): its statements fail with it.
	Err error
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

	// Tables holds the VSchema's tables by lower-case name.
	Tables map[string]*Table
	// Vindexes holds the VSchema's vindexes by name.
	Vindexes map[string]vindexes.Vindex
	// ranges are the key ranges of Shards, in the same order.
	ranges []*topodatapb.KeyRange
	// reads are the shards serving reads of a tablet type where they
	// differ from Shards (KeyspaceInput.ReadShards); nil when none does.
	reads map[topodatapb.TabletType]*shardSet
}

// shardSet is the shards serving one tablet type, in key-range order,
// with their ranges.
type shardSet struct {
	shards []string
	ranges []*topodatapb.KeyRange
}

// shardFor returns the shard of set whose range holds ksid.
func (s shardSet) shardFor(ksid []byte) (string, bool) {
	for i, kr := range s.ranges {
		if kr != nil && keyrange.Contains(kr, ksid) {
			return s.shards[i], true
		}
	}
	return "", false
}

// served returns the shards serving tablet type tt: the primary's unless
// ReadShards named others for it.
func (ks *Keyspace) served(tt topodatapb.TabletType) shardSet {
	if s := ks.reads[tt]; s != nil {
		return *s
	}
	return shardSet{shards: ks.Shards, ranges: ks.ranges}
}

// ServedShards returns the shards serving tablet type tt, in key-range
// order. Do not modify the slice.
func (ks *Keyspace) ServedShards(tt topodatapb.TabletType) []string {
	return ks.served(tt).shards
}

// Table types.
const (
	TableNormal    = ""
	TableReference = "reference"
	TableSequence  = "sequence"
)

// Table is a table of a keyspace's VSchema.
type Table struct {
	Name     string
	Keyspace *Keyspace
	// Type is TableNormal, TableReference or TableSequence.
	Type string
	// ColumnVindexes place the rows; the first one is the primary vindex.
	ColumnVindexes []*ColumnVindex
	// AutoIncrement fills a column from a sequence when an INSERT omits it.
	AutoIncrement *AutoIncrement
	// Pinned is the keyspace id of a table that lives on one shard of a
	// sharded keyspace.
	Pinned []byte
	// Columns are the VSchema's columns of the table, lower case, in
	// order; ColumnTypes their types where given (lower case).
	Columns     []string
	ColumnTypes map[string]string
	// ColumnListAuthoritative says Columns are all the table's columns, in
	// the table's order: an INSERT without a column list means them.
	ColumnListAuthoritative bool
}

// ColumnVindex is one column's vindex.
type ColumnVindex struct {
	// Column is lower case.
	Column string
	Name   string
	Vindex vindexes.Vindex
	// Lookup is set for a lookup vindex: its table and whether this
	// table owns it.
	Lookup *LookupRef
}

// AutoIncrement names the column a sequence fills.
type AutoIncrement struct {
	// Column is lower case.
	Column string
	// SequenceName is as written in the VSchema.
	SequenceName string
	// Sequence is the sequence table, nil when it could not be resolved
	// (Err says why).
	Sequence *Table
	Err      error
}

// PrimaryVindex returns the table's primary column vindex, or nil.
func (t *Table) PrimaryVindex() *ColumnVindex {
	if len(t.ColumnVindexes) == 0 {
		return nil
	}
	return t.ColumnVindexes[0]
}

// VSchema is the planner's view of every keyspace. It is immutable once
// built: a change in topo builds a new one.
type VSchema struct {
	Keyspaces    map[string]*Keyspace
	RoutingRules *topodatapb.RoutingRules
	// rules maps "table" or "keyspace.table" (lower case) to its target,
	// for every tablet type without a rule of its own (routingrules.go).
	rules map[string]ruleTarget
	// typedRules maps them for one tablet type: the rules whose
	// from_table ends in "@replica" or "@rdonly".
	typedRules map[topodatapb.TabletType]map[string]ruleTarget
}

type ruleTarget struct {
	keyspace, table string
}

// BuildVSchema builds the planner's view from topo's records. A keyspace
// whose VSchema is invalid is kept with its Error set.
func BuildVSchema(in []KeyspaceInput, rules *topodatapb.RoutingRules) *VSchema {
	vs := &VSchema{Keyspaces: map[string]*Keyspace{}, RoutingRules: rules, rules: map[string]ruleTarget{}}
	for _, k := range in {
		ks := &Keyspace{
			Name:     k.Name,
			Shards:   append([]string(nil), k.Shards...),
			VSchema:  k.VSchema,
			Tables:   map[string]*Table{},
			Vindexes: map[string]vindexes.Vindex{},
		}
		keyrange.SortShardNames(ks.Shards)
		if k.Err != nil {
			ks.Error = k.Err
		}
		if k.VSchema != nil {
			ks.Sharded = k.VSchema.Sharded
			if err := ValidateKeyspaceVSchema(k.VSchema); err != nil {
				if ks.Error == nil {
					ks.Error = fmt.Errorf("keyspace %s: %w", k.Name, err)
				}
			} else {
				buildTables(ks)
			}
		}
		for _, s := range ks.Shards {
			kr, err := keyrange.Parse(s)
			if err != nil && ks.Error == nil {
				ks.Error = fmt.Errorf("keyspace %s: %w", k.Name, err)
			}
			ks.ranges = append(ks.ranges, kr)
		}
		if !ks.Sharded && len(ks.Shards) > 1 && ks.Error == nil {
			ks.Error = fmt.Errorf("keyspace %s is unsharded but has %d shards", k.Name, len(ks.Shards))
		}
		for tt, shards := range k.ReadShards {
			set := &shardSet{shards: append([]string(nil), shards...)}
			keyrange.SortShardNames(set.shards)
			if slices.Equal(set.shards, ks.Shards) {
				continue
			}
			for _, s := range set.shards {
				kr, err := keyrange.Parse(s)
				if err != nil && ks.Error == nil {
					ks.Error = fmt.Errorf("keyspace %s: %w", k.Name, err)
				}
				set.ranges = append(set.ranges, kr)
			}
			if !ks.Sharded && len(set.shards) > 1 && ks.Error == nil {
				ks.Error = fmt.Errorf("keyspace %s is unsharded but %d shards serve its %s reads", k.Name, len(set.shards), strings.ToLower(tt.String()))
			}
			if ks.reads == nil {
				ks.reads = map[topodatapb.TabletType]*shardSet{}
			}
			ks.reads[tt] = set
		}
		vs.Keyspaces[k.Name] = ks
	}
	for _, ks := range vs.Keyspaces {
		for _, t := range ks.Tables {
			if t.AutoIncrement != nil {
				t.AutoIncrement.Sequence, t.AutoIncrement.Err = vs.findSequence(ks, t.AutoIncrement.SequenceName)
			}
		}
	}
	vs.resolveLookups()
	vs.addRoutingRules(rules)
	return vs
}

func buildTables(ks *Keyspace) {
	for name, v := range ks.VSchema.Vindexes {
		vi, _ := vindexes.New(v.Type, v.Params) // validated
		ks.Vindexes[name] = vi
	}
	for name, t := range ks.VSchema.Tables {
		tbl := &Table{Name: name, Keyspace: ks, Type: t.Type}
		for _, cv := range t.ColumnVindexes {
			tbl.ColumnVindexes = append(tbl.ColumnVindexes, &ColumnVindex{
				Column: strings.ToLower(columnOf(cv)),
				Name:   cv.Name,
				Vindex: ks.Vindexes[cv.Name],
			})
		}
		if t.AutoIncrement != nil {
			tbl.AutoIncrement = &AutoIncrement{Column: strings.ToLower(t.AutoIncrement.Column), SequenceName: t.AutoIncrement.Sequence}
		}
		if t.Pinned != "" {
			tbl.Pinned, _ = decodeHex(t.Pinned)
		}
		for _, c := range t.Columns {
			name := strings.ToLower(c.Name)
			tbl.Columns = append(tbl.Columns, name)
			if c.Type != "" {
				if tbl.ColumnTypes == nil {
					tbl.ColumnTypes = map[string]string{}
				}
				tbl.ColumnTypes[name] = strings.ToLower(c.Type)
			}
		}
		tbl.ColumnListAuthoritative = t.ColumnListAuthoritative
		ks.Tables[strings.ToLower(name)] = tbl
	}
}

func columnOf(cv *vschemapb.ColumnVindex) string {
	if cv.Column != "" {
		return cv.Column
	}
	if len(cv.Columns) == 1 {
		return cv.Columns[0]
	}
	return ""
}

func (vs *VSchema) findSequence(from *Keyspace, name string) (*Table, error) {
	ksName, tName, qualified := strings.Cut(name, ".")
	if !qualified {
		tName, ksName = ksName, ""
	}
	var found []*Table
	for _, ks := range vs.Keyspaces {
		if qualified && ks.Name != ksName {
			continue
		}
		if t, ok := ks.Tables[strings.ToLower(tName)]; ok && t.Type == TableSequence {
			found = append(found, t)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("sequence %s of keyspace %s not found in any unsharded keyspace's VSchema", name, from.Name)
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("sequence %s is ambiguous: qualify it with its keyspace", name)
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

// ShardForKeyspaceID returns the primary shard whose key range holds ksid.
func (ks *Keyspace) ShardForKeyspaceID(ksid []byte) (string, bool) {
	for i, kr := range ks.ranges {
		if kr != nil && keyrange.Contains(kr, ksid) {
			return ks.Shards[i], true
		}
	}
	return "", false
}

// ErrInvalidVSchema wraps every error ValidateKeyspaceVSchema returns.
var ErrInvalidVSchema = errors.New("invalid VSchema")

// ValidateKeyspaceVSchema checks a keyspace VSchema before it is stored.
// Its errors wrap ErrInvalidVSchema and name the table, vindex or column
// at fault.
func ValidateKeyspaceVSchema(vs *vschemapb.Keyspace) error {
	if vs == nil {
		return nil
	}
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if !vs.Sharded && len(vs.Vindexes) > 0 {
		fail("an unsharded keyspace cannot have vindexes (set \"sharded\": true)")
	}
	for _, name := range sortedKeys(vs.Vindexes) {
		v := vs.Vindexes[name]
		if v == nil {
			fail("vindex %q: empty definition", name)
			continue
		}
		if _, err := vindexes.New(v.Type, v.Params); err != nil {
			fail("vindex %q: %v", name, err)
		}
		if v.Owner != "" {
			if !vindexes.IsLookupType(v.Type) {
				fail("vindex %q: only lookup vindexes have an owner", name)
			} else if !tableUsesVindex(vs.Tables, v.Owner, name) {
				fail("vindex %q: its owner table %q does not use it in its column_vindexes", name, v.Owner)
			}
		}
	}
	for _, name := range sortedKeys(vs.Tables) {
		t := vs.Tables[name]
		if t == nil {
			t = &vschemapb.Table{}
		}
		if name == "" || strings.Contains(name, ".") {
			fail("table %q: a table name cannot be empty or contain a dot", name)
		}
		declared := map[string]bool{}
		for _, c := range t.Columns {
			if c.Name == "" {
				fail("table %q: a column in \"columns\" has no name", name)
			}
			declared[strings.ToLower(c.Name)] = true
		}
		if t.ColumnListAuthoritative && len(t.Columns) == 0 {
			fail("table %q: column_list_authoritative needs the table's \"columns\"", name)
		}
		switch t.Type {
		case TableNormal:
			if vs.Sharded && len(t.ColumnVindexes) == 0 && t.Pinned == "" {
				fail("table %q: a table of a sharded keyspace needs a column vindex (or type \"reference\", or \"pinned\")", name)
			}
		case TableReference:
			if len(t.ColumnVindexes) > 0 {
				fail("table %q: a reference table cannot have column vindexes", name)
			}
		case TableSequence:
			if vs.Sharded {
				fail("table %q: a sequence table must be in an unsharded keyspace", name)
			}
			if len(t.ColumnVindexes) > 0 || t.AutoIncrement != nil {
				fail("table %q: a sequence table cannot have column vindexes or an auto_increment", name)
			}
		default:
			fail("table %q: unknown table type %q (want \"\", \"reference\" or \"sequence\")", name, t.Type)
		}
		if !vs.Sharded && len(t.ColumnVindexes) > 0 {
			fail("table %q: column vindexes need a sharded keyspace", name)
		}
		for i, cv := range t.ColumnVindexes {
			col := columnOf(cv)
			switch {
			case len(cv.Columns) > 1:
				fail("table %q: column vindex %d: multi-column vindexes are not supported", name, i)
			case col == "":
				fail("table %q: column vindex %d has no column", name, i)
			case len(declared) > 0 && !declared[strings.ToLower(col)]:
				fail("table %q: column vindex column %q is not among the table's columns", name, col)
			}
			if cv.Name == "" {
				fail("table %q: column vindex on %q names no vindex", name, col)
			} else if def, ok := vs.Vindexes[cv.Name]; ok && def != nil && vindexes.IsLookupType(def.Type) && i == 0 {
				fail("table %q: lookup vindex %q cannot be the primary (first) vindex: a lookup finds rows that another vindex placed", name, cv.Name)
			} else if !ok {
				fail("table %q: column %q uses vindex %q, which is not defined in \"vindexes\" (defined: %s)", name, col, cv.Name, strings.Join(sortedKeys(vs.Vindexes), ", "))
			}
		}
		if a := t.AutoIncrement; a != nil {
			if a.Column == "" {
				fail("table %q: auto_increment has no column", name)
			} else if len(declared) > 0 && !declared[strings.ToLower(a.Column)] {
				fail("table %q: auto_increment column %q is not among the table's columns", name, a.Column)
			}
			if a.Sequence == "" {
				fail("table %q: auto_increment has no sequence", name)
			}
		}
		if t.Pinned != "" {
			if _, err := decodeHex(t.Pinned); err != nil {
				fail("table %q: pinned %q is not hex", name, t.Pinned)
			}
			if !vs.Sharded {
				fail("table %q: pinned needs a sharded keyspace", name)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalidVSchema, strings.Join(errs, "; "))
	}
	return nil
}

// tableUsesVindex says whether table (any case) of tables has a column
// vindex named vindex.
func tableUsesVindex(tables map[string]*vschemapb.Table, table, vindex string) bool {
	for name, t := range tables {
		if !strings.EqualFold(name, table) || t == nil {
			continue
		}
		for _, cv := range t.ColumnVindexes {
			if cv.Name == vindex {
				return true
			}
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func decodeHex(s string) ([]byte, error) {
	if len(s)%2 != 0 {
		return nil, fmt.Errorf("odd length")
	}
	out := make([]byte, len(s)/2)
	for i := 0; i < len(out); i++ {
		var b byte
		for j := 0; j < 2; j++ {
			c := s[2*i+j]
			var n byte
			switch {
			case '0' <= c && c <= '9':
				n = c - '0'
			case 'a' <= c && c <= 'f':
				n = c - 'a' + 10
			case 'A' <= c && c <= 'F':
				n = c - 'A' + 10
			default:
				return nil, fmt.Errorf("bad hex digit %q", c)
			}
			b = b<<4 | n
		}
		out[i] = b
	}
	return out, nil
}
