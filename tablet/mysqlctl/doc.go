// Package mysqlctl runs one mariadbd for a tablet: it writes the server's
// config, initializes the data dir (from a cached template data dir when
// one is configured, since mariadb-install-db is the slow part of a first
// start), starts mariadbd as a child process, waits until it answers,
// creates the users the agent needs, restarts it with backoff when it dies
// and stops it cleanly when its context ends.
//
// Use:
//
//	m, err := mysqlctl.New(cfg, log)
//	err = m.Init(ctx)          // config and data dir
//	go m.Run(ctx)              // supervise until ctx ends
//	err = m.WaitRunning(ctx)   // then connect with m.DBAParams()
//
// mariadbd boots with read_only=ON and without starting replication: the
// agent decides what the server is (primary or replica) every time it
// comes up. mysqlctl knows nothing about replication, topology or queries.
package mysqlctl
