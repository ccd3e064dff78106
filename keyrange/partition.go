package keyrange

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
)

// ErrNotPartition says a set of shards does not cover the whole key range
// exactly once: two of them overlap, or some keyspace ids belong to none.
var ErrNotPartition = errors.New("shards overlap or leave a gap")

// CheckPartition returns nil when shards, named by their ranges, cover
// every keyspace id exactly once, and otherwise an error wrapping
// ErrNotPartition (or a name's parse error) that names the overlap or the
// gap. The order of shards does not matter; an empty set is a gap.
func CheckPartition(shards []string) error {
	if len(shards) == 0 {
		return fmt.Errorf("no shards: %w", ErrNotPartition)
	}
	type named struct {
		name string
		kr   *topodatapb.KeyRange
	}
	rs := make([]named, len(shards))
	for i, s := range shards {
		kr, err := Parse(s)
		if err != nil {
			return err
		}
		rs[i] = named{s, kr}
	}
	sort.SliceStable(rs, func(i, j int) bool { return Less(rs[i].kr, rs[j].kr) })
	if len(rs[0].kr.Start) > 0 && compareBound(rs[0].kr.Start, nil) != 0 {
		return fmt.Errorf("no shard holds the ids below %x (the first is %s): %w", rs[0].kr.Start, rs[0].name, ErrNotPartition)
	}
	for i := 1; i < len(rs); i++ {
		prev, cur := rs[i-1], rs[i]
		if len(prev.kr.End) == 0 {
			return fmt.Errorf("shards %s and %s overlap: %w", prev.name, cur.name, ErrNotPartition)
		}
		switch c := compareBound(prev.kr.End, cur.kr.Start); {
		case c > 0:
			return fmt.Errorf("shards %s and %s overlap: %w", prev.name, cur.name, ErrNotPartition)
		case c < 0:
			return fmt.Errorf("no shard holds the ids from %x to %x (between %s and %s): %w", prev.kr.End, cur.kr.Start, prev.name, cur.name, ErrNotPartition)
		}
	}
	if last := rs[len(rs)-1]; len(last.kr.End) > 0 {
		return fmt.Errorf("no shard holds the ids from %x up (the last is %s): %w", last.kr.End, last.name, ErrNotPartition)
	}
	return nil
}

// Covers reports whether the shards named by covering hold exactly the
// ids of the shard named shard, together: a reshard's target shards cover
// its sources.
func Covers(covering []string, shard string) bool {
	kr, err := Parse(shard)
	if err != nil {
		return false
	}
	var in []string
	for _, c := range covering {
		ckr, err := Parse(c)
		if err != nil {
			return false
		}
		if Intersect(ckr, kr) {
			in = append(in, c)
		}
	}
	return len(in) > 0 && spans(in, kr)
}

// spans reports whether shards, all intersecting kr, cover kr exactly
// without overlapping each other or reaching outside it.
func spans(shards []string, kr *topodatapb.KeyRange) bool {
	rs := make([]*topodatapb.KeyRange, len(shards))
	for i, s := range shards {
		rs[i], _ = Parse(s)
	}
	sort.SliceStable(rs, func(i, j int) bool { return Less(rs[i], rs[j]) })
	if compareBound(rs[0].Start, kr.Start) != 0 {
		return false
	}
	for i := 1; i < len(rs); i++ {
		if len(rs[i-1].End) == 0 || compareBound(rs[i-1].End, rs[i].Start) != 0 {
			return false
		}
	}
	return compareEnd(rs[len(rs)-1].End, kr.End) == 0
}

// Names prints shard names as a comma-separated list.
func Names(shards []string) string {
	if len(shards) == 0 {
		return "(none)"
	}
	return strings.Join(shards, ",")
}
