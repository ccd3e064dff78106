// Package pitr restores a shard to a point in time from backup storage
// alone: the newest full backup before the moment, then the archived
// binlog segments after it (tablet/archive.go writes them), replayed up to
// a time or a GTID, into a MariaDB data dir of its own. It needs
// mariadb-backup, mbstream, mariadbd, mariadb-binlog and the mariadb
// client, and no tablet or topology: `mosaicctl restore pitr` runs it.
package pitr
