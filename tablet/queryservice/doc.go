// Package queryservice is the tablet's gRPC Query service: Execute,
// StreamExecute, Begin, BeginExecute, Commit, Rollback, reserved
// connections and StreamHealth over pools of connections to the tablet's
// mysqld.
//
// Rows pass through untouched: each row is the raw MySQL text-protocol row
// payload mysqld sent (see tablet/mysqlconn), so the tablet never parses
// values on the query path.
//
// What the service guarantees:
//   - every request names a Target; a request for another keyspace or
//     shard, a PRIMARY request on a tablet that is not primary, and any
//     request while the tablet is not serving get a retryable
//     sqlerr.NotServing error (1105, gRPC FailedPrecondition, message
//     starting with "wrong target:" or "not serving:"): the statement did
//     not run and the gate may try another tablet;
//   - every query has a deadline (ExecuteOptions.timeout_ms or the
//     configured default; streams only the caller's own): when the
//     deadline passes or the caller cancels, the statement is stopped with
//     KILL QUERY from another connection and the caller gets 3024 or 1317;
//   - errors from mysqld keep their number and SQLSTATE (sqlerr);
//   - a connection that saw an I/O error, or whose query was killed, is
//     closed, never reused; session settings (ExecuteOptions.settings) are
//     tracked per pooled connection, and a connection with other settings
//     is reset with COM_RESET_CONNECTION before it is reused;
//   - no connection returns to a pool holding state a statement left on
//     it (table or user locks, temporary tables, SQL prepared statements,
//     HANDLERs, a global read lock, variables assigned in a statement):
//     after such a statement (leavesState, a cheap scan of its text) the
//     connection is reset before it is pooled, or closed if that fails; a
//     transaction's connection when the transaction ends;
//   - transactions hold a dedicated connection under an id unique across
//     restarts, and a transaction idle longer than the limit is rolled
//     back by the transaction killer;
//   - reserved connections (ReserveExecute, Release, ReservedHeartbeat:
//     the gate's lock sessions for GET_LOCK, reserved.go) come from a pool
//     of their own, are not transactions (the transaction killer leaves
//     them alone), and are released, reset, when their caller releases
//     them, goes silent for ReservedTimeout, or their statement is killed,
//     and when the tablet is demoted, shuts down or mysqld restarts.
//
// The agent (package tablet) owns a Service: it tells it the tablet's type
// and serving state, publishes health through a Broadcaster, resets the
// pools when mysqld restarts, and runs Run for the transaction killer.
// queryservice must not import the agent or topo.
package queryservice
