package keyrange

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
)

// Parse returns the key range a shard name stands for.
func Parse(shard string) (*topodatapb.KeyRange, error) {
	if shard == "0" || shard == "-" || shard == "" {
		return &topodatapb.KeyRange{}, nil
	}
	startHex, endHex, ok := strings.Cut(shard, "-")
	if !ok {
		return nil, fmt.Errorf("invalid shard name %q: want <start>-<end> in hex, or 0", shard)
	}
	start, err := hex.DecodeString(startHex)
	if err != nil {
		return nil, fmt.Errorf("invalid shard name %q: %w", shard, err)
	}
	end, err := hex.DecodeString(endHex)
	if err != nil {
		return nil, fmt.Errorf("invalid shard name %q: %w", shard, err)
	}
	if len(end) > 0 && compareBound(start, end) >= 0 {
		return nil, fmt.Errorf("invalid shard name %q: start must be below end", shard)
	}
	return &topodatapb.KeyRange{Start: start, End: end}, nil
}

// String returns the shard name of a key range ("-" for the whole range).
func String(kr *topodatapb.KeyRange) string {
	if kr == nil {
		return "-"
	}
	return hex.EncodeToString(kr.Start) + "-" + hex.EncodeToString(kr.End)
}

// IsFull reports whether kr covers every keyspace id.
func IsFull(kr *topodatapb.KeyRange) bool {
	return kr == nil || (len(kr.Start) == 0 && len(kr.End) == 0)
}

// Contains reports whether keyspace id id lies in kr.
func Contains(kr *topodatapb.KeyRange, id []byte) bool {
	if kr == nil {
		return true
	}
	return compareBound(kr.Start, id) <= 0 && (len(kr.End) == 0 || compareBound(id, kr.End) < 0)
}

// Intersect reports whether two ranges share any id.
func Intersect(a, b *topodatapb.KeyRange) bool {
	if IsFull(a) || IsFull(b) {
		return true
	}
	// a.start < b.end && b.start < a.end, with empty ends meaning +inf.
	aBeforeBEnd := len(b.End) == 0 || compareBound(a.Start, b.End) < 0
	bBeforeAEnd := len(a.End) == 0 || compareBound(b.Start, a.End) < 0
	return aBeforeBEnd && bBeforeAEnd
}

// Equal reports whether two ranges are the same.
func Equal(a, b *topodatapb.KeyRange) bool {
	if IsFull(a) || IsFull(b) {
		return IsFull(a) && IsFull(b)
	}
	return compareBound(a.Start, b.Start) == 0 && compareEnd(a.End, b.End) == 0
}

// compareBound compares two start bounds or ids, zero-padding the shorter.
func compareBound(a, b []byte) int {
	n := max(len(a), len(b))
	for i := 0; i < n; i++ {
		var x, y byte
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// compareEnd compares end bounds where empty means +inf.
func compareEnd(a, b []byte) int {
	switch {
	case len(a) == 0 && len(b) == 0:
		return 0
	case len(a) == 0:
		return 1
	case len(b) == 0:
		return -1
	}
	return compareBound(a, b)
}

// Less orders ranges by start.
func Less(a, b *topodatapb.KeyRange) bool {
	var as, bs []byte
	if a != nil {
		as = a.Start
	}
	if b != nil {
		bs = b.Start
	}
	return bytes.Compare(pad(as, len(bs)), pad(bs, len(as))) < 0
}

func pad(b []byte, n int) []byte {
	if len(b) >= n {
		return b
	}
	out := make([]byte, n)
	copy(out, b)
	return out
}

// SortShardNames sorts shard names by the start of their range; names that
// do not parse go last in lexical order.
func SortShardNames(names []string) {
	sort.SliceStable(names, func(i, j int) bool {
		a, errA := Parse(names[i])
		b, errB := Parse(names[j])
		switch {
		case errA != nil && errB != nil:
			return names[i] < names[j]
		case errA != nil:
			return false
		case errB != nil:
			return true
		}
		if Less(a, b) || Less(b, a) {
			return Less(a, b)
		}
		// Same start: the narrower range first (-40 before -80).
		return compareEnd(a.End, b.End) < 0
	})
}

// Split divides the full range into n equal shard names (n a power of two
// up to 256), e.g. 2 → ["-80", "80-"], 4 → ["-40", "40-80", "80-c0", "c0-"].
func Split(n int) ([]string, error) {
	if n == 1 {
		return []string{"0"}, nil
	}
	if n < 1 || n > 256 || n&(n-1) != 0 {
		return nil, fmt.Errorf("shard count %d: want a power of two from 1 to 256", n)
	}
	step := 256 / n
	names := make([]string, n)
	for i := 0; i < n; i++ {
		start, end := "", ""
		if i > 0 {
			start = fmt.Sprintf("%02x", i*step)
		}
		if i < n-1 {
			end = fmt.Sprintf("%02x", (i+1)*step)
		}
		names[i] = start + "-" + end
	}
	return names, nil
}
