// Package deadlock finds deadlocks across shards and breaks them: a
// transaction that waits on one shard for a row another transaction
// holds, while that one waits on another shard for the first, is
// invisible to each mysqld, and without this would last until
// innodb_lock_wait_timeout. `mosaic failover` runs a Detector beside the
// failure detector; `mosaic up` runs it for the local cluster.
//
// Each round (Config.Interval) the Detector asks every primary tablet in
// the topology for its row lock waits (the LockWaits RPC): which of its
// transactions' statements have waited longer than Config.MinWait, and
// for which transaction, each named by the tag its gate gave it, the same
// on every shard. Graph joins the answers into one wait-for graph and
// finds the cycles that span two shards or more (a cycle within one shard
// is its mysqld's, which breaks it at once). A cycle found is confirmed
// by fresh reads of the tablets in it, made after the first ones came
// back: each of its waits must still be the same statement waiting for
// the same lock behind the same transaction, which proves every wait of
// the cycle existed at one moment (Graph.Confirm). Then the youngest
// transaction of the cycle (the one its gate began last) is aborted
// where it waits (the AbortDeadlockVictim RPC): its tablet checks once
// more, with a read made after the request came, that the statement still
// waits for that lock, interrupts it, rolls the shard's transaction back
// and fails the statement with 1213 (ER_LOCK_DEADLOCK, SQLSTATE 40001).
// The victim's gate then rolls back the rest of the transaction on every
// shard, as MariaDB does for a deadlock it finds itself.
//
// Several detectors may run at once (two failure detectors, or the old
// and the new during a restart): each aborts only a transaction of a
// confirmed cycle whose statement its tablet finds still waiting; for the
// same cycle each chooses the same victim (the order of transactions is
// their start, fixed when they begin); and aborting a victim twice is
// harmless. A transaction in its commit (a twopc branch PREPAREd, a
// COMMIT under way) waits for no row lock, so it is never in a cycle, and
// a tablet aborts only a running statement, never a commit or a prepare.
//
// The package decides in Graph (pure, tested with the scripts of
// testdata/) and does its IO in Detector. It never imports proxy.
package deadlock
