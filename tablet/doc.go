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
//	cfg.GRPCPort, cfg.HTTPPort, cfg.MySQLPort = 16101, 15201, 17101
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
// The keyspace's data lives in a database named like the keyspace
// (Config.DBName), created on every mysqld start without binlogging.
//
// tablet never imports router or proxy.
package tablet
