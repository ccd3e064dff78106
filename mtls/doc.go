// Package mtls gives the cluster's mutual TLS: one cluster CA, a
// certificate per component that names the component's role, TLS
// configurations and gRPC credentials for servers and clients that verify
// the peer against the CA, and reloading of certificates and CA bundles
// from disk while a process runs.
//
// # Roles
//
// A certificate carries its role as one URI SAN, mosaic://role/<role>:
// gate (executes queries on tablets), tablet (a tablet calling a peer:
// a repair cloning a donor), operator (mosaicctl, the failure detector,
// mosaic up) and etcd (the embedded etcd's server and peer certificate).
// RoleOf reads it back; a certificate with no role URI, more than one, or
// an unknown one has no role, and servers refuse it.
//
// # Files
//
// InitDir lays out a directory as `mosaicctl certs init` and `mosaic up`
// do: ca.pem and ca-key.pem, then <role>.pem and <role>-key.pem for every
// role (DirFiles names them). Keys are written 0600 and files are replaced
// atomically (written aside, then renamed), so a process that reloads
// never reads half a file.
//
// # Using it
//
// Load a Source from a component's Files, run Watch (and call Reload on
// SIGHUP), and build connections from it: ServerCredentials for a gRPC
// server (it demands and verifies a client certificate), ClientCredentials
// for a gRPC client (it verifies the server's host name and, when asked,
// its role), PeerFromContext in a server's handlers and interceptors to
// learn who called. Every handshake reads the Source's current material,
// so a reload takes effect on the next connection without a restart;
// connections already open keep the certificates they were made with.
//
// This package never logs or returns key material, and never reads a
// password. It does not decide who may call what: the server that owns
// the methods does (tablet/rpcauth).
package mtls
