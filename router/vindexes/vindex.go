package vindexes

import (
	"encoding/binary"
	"fmt"
	"sort"

	"github.com/cespare/xxhash/v2"

	"github.com/mosaicdb/mosaic/router/sqltypes"
)

// Vindex maps a column value to a keyspace id.
type Vindex interface {
	// Type is the vindex type as written in a VSchema: "hash", ...
	Type() string
	// Map returns the keyspace id of a bind value (nil, int64, uint64,
	// float64, string, []byte or sqltypes.DecimalLiteral). ok is false
	// when the value has no keyspace id this vindex can vouch for (NULL, a
	// fraction for an integer vindex): the caller must then look on every
	// shard, never guess.
	Map(v any) (ksid []byte, ok bool)
}

// Types lists the vindex types New accepts, sorted.
func Types() []string {
	t := make([]string, 0, len(constructors)+len(lookupTypes))
	for k := range constructors {
		t = append(t, k)
	}
	for k := range lookupTypes {
		t = append(t, k)
	}
	sort.Strings(t)
	return t
}

var constructors = map[string]func(params map[string]string) (Vindex, error){
	"hash":    func(map[string]string) (Vindex, error) { return Hash{}, nil },
	"numeric": func(map[string]string) (Vindex, error) { return Numeric{}, nil },
	"xxhash":  func(map[string]string) (Vindex, error) { return XXHash{}, nil },
	"binary":  func(map[string]string) (Vindex, error) { return Binary{}, nil },
}

// New returns the vindex of type typ. Only the lookup types take
// parameters (see Lookup); any other parameter is an error so that a typo
// does not go unnoticed.
func New(typ string, params map[string]string) (Vindex, error) {
	if IsLookupType(typ) {
		return newLookup(typ, params)
	}
	c, ok := constructors[typ]
	if !ok {
		return nil, fmt.Errorf("unknown vindex type %q (known: %v)", typ, Types())
	}
	for k := range params {
		return nil, fmt.Errorf("vindex type %s takes no parameter %q", typ, k)
	}
	return c(params)
}

// Hash maps integers: the value as a uint64 (negative int64 values as
// their two's complement) goes through Mix64, and the keyspace id is the
// 8 big-endian bytes of the result. Mix64 is a bijection, so distinct
// integers never share a keyspace id.
type Hash struct{}

func (Hash) Type() string { return "hash" }

func (Hash) Map(v any) ([]byte, bool) {
	u, ok := integerBits(v)
	if !ok {
		return nil, false
	}
	return binary.BigEndian.AppendUint64(nil, Mix64(u)), true
}

// Mix64 is the 64-bit finalizer of MurmurHash3 (fmix64):
//
//	x ^= x >> 33; x *= 0xff51afd7ed558ccd
//	x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53
//	x ^= x >> 33
//
// with wrapping multiplication. Each step is invertible.
func Mix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// Numeric is the identity on integers: the keyspace id is the 8 big-endian
// bytes of the value as a uint64 (negative values as two's complement).
type Numeric struct{}

func (Numeric) Type() string { return "numeric" }

func (Numeric) Map(v any) ([]byte, bool) {
	u, ok := integerBits(v)
	if !ok {
		return nil, false
	}
	return binary.BigEndian.AppendUint64(nil, u), true
}

// XXHash hashes the value's text as MySQL shows it (integer 42 and string
// '42' both hash "42") with XXH64, seed 0; the keyspace id is the 8
// big-endian bytes of the hash. Float values are not routable.
type XXHash struct{}

func (XXHash) Type() string { return "xxhash" }

func (XXHash) Map(v any) ([]byte, bool) {
	t, ok := sqltypes.ToText(v)
	if !ok {
		return nil, false
	}
	return binary.BigEndian.AppendUint64(nil, xxhash.Sum64(t)), true
}

// Binary uses the value's bytes (its text as MySQL shows it) as the
// keyspace id.
type Binary struct{}

func (Binary) Type() string { return "binary" }

func (Binary) Map(v any) ([]byte, bool) {
	t, ok := sqltypes.ToText(v)
	if !ok {
		return nil, false
	}
	return append([]byte(nil), t...), true
}

func integerBits(v any) (uint64, bool) {
	i, u, unsigned, ok := sqltypes.ToInteger(v)
	if !ok {
		return 0, false
	}
	if unsigned {
		return u, true
	}
	return uint64(i), true
}
