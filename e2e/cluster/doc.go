// Package cluster starts a whole Mosaic cluster inside a test: an embedded
// etcd, real tablets (mariadbd children) for each keyspace and shard, and a
// gate, all on free ports and stopped when the test ends.
package cluster
