// Package proxy is the gate: a MySQL server that clients connect to with any
// standard driver. It authenticates clients, keeps their sessions and
// transactions, asks the router to plan each statement, and runs the plans
// against tablets it discovers through topo and their health streams.
//
// The MySQL protocol: the connection phase (handshake.go, authenticate.go:
// capabilities, TLS, mysql_native_password and caching_sha2_password against
// the users file) and the command loop (conn.go) are the gate's own. The
// wire format is package mysqlsrv's: packets are read by
// mysqlsrv.PacketConn (bounded before login, grown only as bytes arrive,
// timed out when a client stops half-way) and written by
// mysqlsrv.PacketWriter, one flush per command. Prepared statements
// (prepare.go) bind COM_STMT_EXECUTE values (mysqlsrv.DecodeParams) into
// the router's cached plan and write binary rows (mysqlsrv.AppendBinaryRow,
// rows.go); multistmt.go splits multi-statement queries; timeout.go holds
// KILL and the statement time limits; access.go the per-user rules.
//
// Tablets are reached through the tablet gateway, package tabletgw:
// discovery, health, picking, buffering and fan-out live there, behind
// the small tabletGateway interface the session engine calls
// (gateway.go).
//
// The gate is stateless: everything it knows comes from topo (watched, not
// polled) and from the tablets' health streams. It never talks to mysqld
// directly. Use Gate: New(cfg, topoServer, logger, registry) then Run(ctx).
package proxy
