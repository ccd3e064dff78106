package vrepl

import "github.com/mosaicdb/mosaic/tablet/mysqlconn"

// Accounts are the mysqld accounts the engine uses, in one place so that
// they can move to dedicated least-privilege accounts: Source reads every
// table and the binlog of a source tablet's own mysqld (SELECT,
// REPLICATION SLAVE); Target writes the copied tables and Mosaic's
// progress tables on a target primary (INSERT, UPDATE, DELETE, and
// writes stop when read_only turns on, so that a demoted or fenced target
// stops applying). Both reach mysqld over its unix socket; DB is set by
// the engine.
type Accounts struct {
	Source mysqlconn.Params
	Target mysqlconn.Params
}
