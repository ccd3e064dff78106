// Package topo holds Mosaic's topology: which keyspaces, shards and tablets
// exist, each keyspace's VSchema, and the per-cell serving graph.
//
// Store is the small key-value interface a backend implements (etcd in
// production, memory in unit tests; see topo/etcdstore and topo/memstore).
// Server is the typed layer over a Store that the rest of Mosaic uses:
// records are protobuf messages stored as protojson, so `etcdctl get` is
// readable. Every write that can race goes through a compare-and-swap on the
// record's version, and shard-level operations take a lease-backed lock.
//
// Store.Lease keeps a key alive only while its holder renews it; the
// shard's primary lease (AcquirePrimaryLease, leases/<ks>/<shard>) is the
// topo-level fence that keeps a shard to one writable primary. WatchShard,
// WatchShards and WatchPrimaryLeases follow shard records and leases.
//
// Workflow records (resharding and table moves, workflow.go) live under
// their target keyspace at keyspaces/<ks>/workflows/<name>; the target
// shards' primaries watch them (WatchWorkflows) and run their streams.
//
// topo never imports proxy, router or tablet.
package topo
