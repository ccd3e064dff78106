// Package etcdtest starts an embedded etcd for tests.
package etcdtest
