package topo

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/mosaicdb/mosaic/keyrange"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
)

// AliasString prints a tablet alias as <cell>-<uid>.
func AliasString(a *topodatapb.TabletAlias) string {
	if a == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%s-%d", a.Cell, a.Uid)
}

// ParseAlias parses <cell>-<uid>; the cell may itself contain '-'.
func ParseAlias(s string) (*topodatapb.TabletAlias, error) {
	i := strings.LastIndexByte(s, '-')
	if i <= 0 {
		return nil, fmt.Errorf("invalid tablet alias %q: want <cell>-<uid>", s)
	}
	uid, err := strconv.ParseUint(s[i+1:], 10, 32)
	if err != nil {
		return nil, fmt.Errorf("invalid tablet alias %q: %w", s, err)
	}
	return &topodatapb.TabletAlias{Cell: s[:i], Uid: uint32(uid)}, nil
}

// ParseShardName returns the key range of a shard name.
func ParseShardName(shard string) (*topodatapb.KeyRange, error) {
	return keyrange.Parse(shard)
}

// SortShardNames sorts shard names by key range.
func SortShardNames(names []string) { keyrange.SortShardNames(names) }

// ParseTabletType parses "primary", "replica", ... (case-insensitive).
func ParseTabletType(s string) (topodatapb.TabletType, error) {
	v, ok := topodatapb.TabletType_value[strings.ToUpper(s)]
	if !ok || v == 0 {
		return 0, fmt.Errorf("unknown tablet type %q", s)
	}
	return topodatapb.TabletType(v), nil
}

// TabletTypeString prints a tablet type in lower case.
func TabletTypeString(t topodatapb.TabletType) string {
	return strings.ToLower(t.String())
}
