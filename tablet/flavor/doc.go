// Package flavor hides the replication SQL that differs between MariaDB and
// MySQL behind one Flavor interface: reading positions and replication
// status, pointing a server at a source, starting, stopping and resetting
// replication, waiting for a position, read-only and semi-sync.
//
// A Flavor holds no connection: every method runs its SQL through a
// Querier the caller passes, so the flavors are tested by recording the SQL
// they send to a fake Querier, and the agent runs them on mysqld.
//
// MariaDB (GTID, 10.11) is the flavor Mosaic runs and tests end to end.
// MySQL 8 (GTID auto-position, 8.0.23+ statement names) is written beside
// it and unit-tested for the SQL it produces only; it has not been run
// against a real MySQL server.
//
// Positions are GTID sets in the flavor's own text form and are opaque to
// callers: pass what one method returned to another.
package flavor
