// Package memstore is an in-memory topo.Store for unit tests of code that
// reads and watches the topology. It passes the same conformance suite as
// the etcd store; it is not durable and not shared between processes.
package memstore
