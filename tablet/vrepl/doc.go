// Package vrepl is Mosaic's replication engine: it copies tables from the
// shards of one keyspace into the shards of another key layout (resharding,
// and the table moves and lookup backfills built on it) while the
// application keeps writing, and keeps the copies current from the
// sources' binlogs until traffic moves.
//
// Both ends run in tablets. A source tablet serves two streams over its own
// mysqld (Source, rowstream.go and eventstream.go): the rows of tables in
// primary-key order from one consistent snapshot with the snapshot's GTID
// position, and the row changes of its binlog from a GTID position (read
// with go-mysql's replication package). Both keep only rows whose keyspace
// id, by the table's primary vindex (router/vindexes, the router's own
// code), falls in the asking target's key range, and both give values in
// one text form (the text protocol's) whatever path they came by.
//
// A target shard's primary runs the streams (Engine): one per source
// shard whose range meets its own, for every workflow record in topo
// (topo.WatchWorkflows) that names its shard. A stream copies in cycles:
// it opens a snapshot on a source tablet (a replica when one answers),
// applies the binlog up to exactly the snapshot's position, then inserts
// the snapshot's rows for a while; then again, until every table is
// copied, then it follows the binlog. Binlog changes of rows not copied
// yet are skipped (a later snapshot brings them); changes of copied rows
// apply. The applied position, the last copied primary key of each table
// and the counters are rows of _mosaic.vreplication and
// _mosaic.copy_state on the target, written in the same transaction as
// the rows they cover, so a stream that restarts after the loss of any
// tablet or mysqld continues exactly where its last commit left it:
// nothing lost, nothing applied twice.
//
// A lookup backfill (a LOOKUP workflow) is the same streams with a
// projection: its one table rule names the owner table on the sources
// and a lookup table on the targets, and the targets write each owner
// row's entry instead of the row, idempotently, with binlog changes
// applied to every row whether copied yet or not (lookup.go).
//
// VDiff compares a target's rows with its sources' at one consistent
// point: the streams stop, each source opens a snapshot, each stream
// applies exactly up to its source's snapshot, the target opens its own,
// the streams go on, and the two sides are merged in primary-key order.
//
// Primary keys are ordered as mysqld orders them: integers and decimals by
// value, binary strings by bytes, character strings by their collation's
// WEIGHT_STRING (pk.go). A table whose key has another type (TIME, ENUM,
// SET) is refused.
//
// This package depends on topo, proto, go-mysql's replication, the TiDB
// parser (to see which tables a DDL names), router/vindexes and the leaf
// packages of tablet (mysqlconn); never on the tablet agent itself, which
// gives it connections, a registry and a logger.
package vrepl
