// Package backupstore keeps shards' backups and archived binlogs in backup
// storage: a local (or shared) folder, or an S3-compatible bucket, chosen
// by a URL (Open):
//
//	file:///var/backups/mosaic
//	s3://bucket/prefix?endpoint=host:port&region=us-east-1&secure=false&credentials=/path
//
// Store is the small interface both implement: streaming Put (an object is
// visible only once complete, and a backup never has to fit on local disk:
// S3 uploads are multipart), Get, List, Delete. Above it, Codec seals what
// is stored: optional zstd compression, optional encryption at rest
// (AES-256-GCM in chunks, with a key file), and a SHA-256 checksum that a
// reader verifies before it reports the end of the data.
//
// The layout in a store (catalog.go, binlogs.go):
//
//	<keyspace>/<shard>/backups/<id>.data     one physical backup (xbstream), sealed
//	<keyspace>/<shard>/backups/<id>.json     its Manifest, written last
//	<keyspace>/<shard>/binlogs/<segment>     archived binlog segments (name: SegmentName)
//	<keyspace>/<shard>/binlogs/<segment>.json
//
// Tablets write backups and segments and read them to restore; mosaicctl
// lists them, applies retention and starts restores. The package does no
// mysqld work and knows nothing of topology.
package backupstore
