package vrepl

import "github.com/mosaicdb/mosaic/tablet/mysqlconn"

// Accounts are the mysqld accounts the engine uses: Source reads the
// keyspace's tables and the binlog of a source tablet's own mysqld
// (SELECT, REPLICATION SLAVE, BINLOG MONITOR); Target writes the copied
// tables and the progress tables in _mosaic on a target primary (INSERT,
// UPDATE, DELETE), and must lack READ_ONLY ADMIN so that a demoted or
// fenced target stops applying. The tablet gives mysqlctl's VRepl account
// for both. They reach mysqld over its unix socket; DB is set by the
// engine.
type Accounts struct {
	Source mysqlconn.Params
	Target mysqlconn.Params
}
