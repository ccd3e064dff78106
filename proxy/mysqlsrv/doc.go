// Package mysqlsrv is the server side of the MySQL wire protocol as the
// gate speaks it: framing packets in and out of a client connection
// (PacketConn reads them, bounded and grown only as bytes arrive;
// PacketWriter buffers a response and writes it with one flush), the
// protocol's encodings (length-encoded integers and strings, column
// definitions, OK, EOF and ERR packets, binary-protocol rows) and the
// parsing of what clients send (COM_STMT_EXECUTE headers and parameters,
// MariaDB's COM_STMT_BULK_EXECUTE, connection attributes), each checking every length a client claims.
//
// It knows nothing of sessions, plans, shards or tablets, and imports
// neither router's planner nor proxy: only proto's value types, sqlerr
// for the errors clients see, and router/sqltypes for parameter values.
// The handshake, authentication and the command loop are still proxy's
// (issue 18 moves them here behind a Handler).
package mysqlsrv
