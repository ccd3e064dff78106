// Package failover is the failure detector that runs emergency reparents
// with no operator: `mosaic failover` runs a Controller, and `mosaic up`
// runs it for the local cluster.
//
// A Controller watches every shard record and every shard's primary
// lease in topo. A shard whose record names a primary that does not hold
// the lease (it lost it: dead, or cut off from topo, for the lease's
// time to live; or it was fenced), or whose record names no primary
// although it had one (an emergency reparent that did not finish), is
// failed over with reparent.Emergency. The controller also follows each
// primary's health stream: when the stream breaks and both the primary's
// gRPC and mysqld ports refuse connections, the processes are gone, and
// the controller breaks their lease at once instead of waiting for it to
// expire; a timeout proves nothing and only the lease decides.
//
// Safety does not rest on the controller: the emergency reparent fences
// the old primary through the shard record and waits for its lease to go
// before it promotes anyone, and it runs under the shard lock, re-checking
// the primary's health there, so several controllers (or an operator's
// reparent at the same time) are harmless. A controller that has just
// started leaves shards alone for StartupGrace unless it saw their primary
// healthy, so that a cluster that is starting is not failed over.
//
// failover never starts tablets and never imports proxy.
package failover
