// Package tablet is the tablet agent: it runs one mariadbd (tablet/mysqlctl),
// serves the gRPC Query service (tablet/queryservice) and the TabletManager
// service, registers the tablet in topo, decides at every mysqld start
// whether this server is a primary or a replica, streams its health, and
// serves /healthz, /debug/status and /metrics over HTTP.
//
// Use:
//
//	cfg := tablet.DefaultConfig()
//	cfg.Alias, cfg.Keyspace, cfg.Shard, cfg.Dir = "zone1-101", "commerce", "0", dir
//	cfg.GRPCPort, cfg.HTTPPort, cfg.MySQLPort = 18101, 19101, 17101
//	cfg.Topo = ts
//	a, err := tablet.New(cfg, log)
//	err = a.Run(ctx) // blocks until ctx ends, then stops everything
//
// Start-up: the keyspace and shard records are created when missing; if
// the shard record names this tablet as primary it comes up PRIMARY
// (read_only off); if it names another primary it comes up as a replica
// of it; otherwise it comes up as a replica with no source and waits for
// an operator (tablet/tmclient.InitShardPrimary). The tablet record is
// written on start and on every type change, and left in place on
// shutdown: the health stream says whether a tablet serves.
//
// Taking writes: a tablet is a writable primary only while the shard record
// names it with its term and it holds the shard's primary lease in topo
// (lease.go). It takes the lease before read_only goes off and gives it
// back after read_only is on; when it loses the lease, or the shard record
// stops naming it, it fences itself (fence.go): it stops serving at once
// and turns read-only. The query service connects as an app user that
// read_only stops, so in-flight writes stop too. A mysqld that does not
// answer, or does not turn read-only within FenceTimeout, is killed and
// kept down instead, and the lease is given back only then. Replicas
// follow the primary the shard record names (shardwatch.go), unless they
// hold transactions it lacks (role.go: they are rebuilt); a primary runs
// semi-sync where its shard has replicas (semisync.go).
//
// Health means answering (mysqldprobe.go): the tablet asks its mysqld a
// query every MysqldProbeInterval with a MysqldProbeTimeout deadline, and
// does not serve while it does not answer; its health says so
// (mysqld_unresponsive), which the failure detector acts on for a primary.
//
// Repair (repair.go): a replica whose data dir is lost, that starts empty
// in a shard with data, or whose replication is broken for good rebuilds
// itself from a peer's physical copy (the Backup RPC, backup.go) or from
// the shard's latest backup in its backup storage (Config.Backup,
// backup.go), then catches up by GTID.
//
// The keyspace's data lives in a database named like the keyspace
// (Config.DBName), created on every mysqld start without binlogging.
//
// tablet never imports router or proxy.
package tablet
