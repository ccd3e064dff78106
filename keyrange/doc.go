// Package keyrange parses, compares and prints shard key ranges.
//
// A shard is named by its half-open range of keyspace ids in hex: "-80"
// holds ids below 0x80..., "80-" holds the rest, "40-80" the ids in
// [0x40..., 0x80...). The name "0" (or "-") is the whole range of an
// unsharded keyspace. Keyspace ids compare as big-endian byte strings, and a
// bound compares as if padded with zero bytes.
package keyrange
