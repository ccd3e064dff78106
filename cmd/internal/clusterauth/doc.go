// Package clusterauth holds the flags every Mosaic binary shares to say
// how it proves who it is to the cluster and how it checks its peers:
// the cluster certificate for gRPC (--cert-dir, or --cluster-ca,
// --cluster-cert, --cluster-key), etcd's TLS and users (--topo-ca,
// --topo-cert, --topo-key, --topo-user, --topo-password-file or
// MOSAIC_TOPO_PASSWORD), and --insecure, the only way to run without
// TLS. Only binaries under cmd/ import it: it defines flags.
//
// A binary Adds the flags for its role, Loads them once parsed, and, if
// it runs for long, Watches the loaded certificates so that files
// replaced on disk (or a SIGHUP) take effect without a restart.
package clusterauth
