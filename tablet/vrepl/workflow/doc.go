// Package workflow is the operator's side of resharding (and, later, of
// table moves): it checks and creates workflow records, prepares the
// target shards' tables, reads the streams' progress from the target
// primaries, runs VDiff on them, and stops, starts and cancels
// workflows. mosaicctl's `reshard` commands are thin wrappers over it.
//
// It talks to topo and to tablets (TabletManager and VReplication over
// gRPC); the streams themselves run in the target tablets (tablet/vrepl).
// Every refusal happens before the first change: a request that fails a
// check leaves topo and the tablets as they were.
package workflow
