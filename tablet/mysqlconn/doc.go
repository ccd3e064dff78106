// Package mysqlconn is a thin MySQL client connection for the tablet: it
// runs text-protocol queries and returns results the way the query service
// sends them on, with each row kept as its raw row packet payload instead of
// being parsed into values.
//
// The handshake is go-mysql's client; after it, Conn speaks COM_QUERY at the
// packet level. It announces CLIENT_MULTI_RESULTS: a statement answered with
// several results (a CALL: its procedure's result sets, then an OK) comes
// back as the first result with the others in QueryResult.MoreResults
// (multiresult.go); a single result costs nothing more than before. A Conn is not safe for concurrent use, except Kill-style
// interruption through SetReadDeadline and the connection id, which another
// goroutine may use. A Conn that saw an I/O or protocol error reports
// IsBroken and must be closed, not reused.
//
// mysqlconn knows nothing about pools, targets or gRPC; tablet/queryservice
// builds those on top. It must not import the agent.
package mysqlconn
