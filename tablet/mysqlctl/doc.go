// Package mysqlctl runs one mariadbd for a tablet: it writes the server's
// config, initializes the data dir (from a cached template data dir when
// one is configured, since mariadb-install-db is the slow part of a first
// start), starts mariadbd as a child process, waits until it answers,
// creates the accounts the tablet needs, restarts it with backoff when it
// dies and stops it cleanly when its context ends.
//
// Least privilege: mariadbd runs as an unprivileged system user
// (Config.SystemUser when the tablet is root, runas.go), which owns only
// the dirs mariadbd writes; the agent's DBA account authenticates by
// unix_socket (no password anywhere); every other purpose has an account
// of its own with the least it needs, made on every start (accounts.go);
// the passwords shared by a cluster's tablets come from a secrets file
// (secrets.go) and print as [redacted].
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
