// Package backupstore keeps physical backups of shards in a directory
// (local, or a shared mount every tablet can read):
//
//	<dir>/<keyspace>/<shard>/<time>-<tablet>.xbstream   the archive (mariadb-backup --stream=xbstream)
//	<dir>/<keyspace>/<shard>/<time>-<tablet>.json       its Manifest
//
// An archive becomes visible only once complete: it is written under a
// temporary name and its manifest is written last. mosaicctl backup writes
// them; a tablet's repair and mosaicctl restore read them.
package backupstore
