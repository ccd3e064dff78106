// Package rpcauth decides, call by call, whether the peer of a gRPC server
// may call a method: the peer's role comes from its verified client
// certificate (package mtls), the roles allowed for each method from a
// Table the server declares. A method the Table does not name is refused
// to everyone, so a new RPC is closed until its line in the Table says
// who may call it.
//
// A refused call ends with codes.PermissionDenied (with MySQL error 1227
// in its details), is logged with the peer's role, name and address and
// the method (never a request's content), and is counted in
// mosaic_tablet_rpc_denied_total{method, role}.
//
// Install both interceptors (Unary, Stream) on a server whose listeners
// all use mtls server credentials: a call on a connection without them
// has no role and is refused.
package rpcauth
