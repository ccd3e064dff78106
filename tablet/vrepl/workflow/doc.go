// Package workflow is the operator's side of resharding and of table
// moves (MoveTables): it checks and creates workflow records, prepares the
// target shards' tables, reads the streams' progress from the target
// primaries, runs VDiff on them, switches traffic (the serving graph for a
// reshard, the routing rules for a table move), and stops, starts,
// completes and cancels workflows. mosaicctl's `reshard` and `movetables`
// commands are thin wrappers over it.
//
// It talks to topo and to tablets (TabletManager and VReplication over
// gRPC); the streams themselves run in the target tablets (tablet/vrepl).
// Every refusal happens before the first change: a request that fails a
// check leaves topo and the tablets as they were.
package workflow
