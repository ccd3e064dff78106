// Package etcdstore is the etcd implementation of topo.Store, and starts an
// embedded etcd server for the local cluster and for tests.
package etcdstore
