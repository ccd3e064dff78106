// Package vindexes maps column values to keyspace ids. A keyspace id is a
// byte string; the row lives on the shard whose key range holds it.
//
// The functions are part of the on-disk format: once rows are placed, a
// key must map to the same keyspace id in every release. vindexes_test.go
// pins sample values; never change them. docs/vschema.md states each
// function exactly.
//
// This package does no IO and keeps no state.
package vindexes
