// Package failover is the failure detector that runs emergency reparents
// with no operator: `mosaic failover` runs a Controller, and `mosaic up`
// runs it for the local cluster.
//
// A Controller watches every shard record and every shard's primary
// lease in topo, and follows the health stream of each shard's primary.
// A shard is failed over with reparent.Emergency when
//
//   - the record names a primary that does not hold the lease (it lost
//     it: dead, or cut off from topo, for the lease's time to live; or it
//     was fenced), or names no primary although it had one (an emergency
//     reparent that did not finish); a primary the record has just named
//     gets a moment to take the lease first;
//   - the named primary holds its lease but its health has said for
//     UnresponsiveGrace that its mysqld does not answer (stopped, stuck in
//     I/O, crashed and not back): the reparent checks that again under
//     the shard lock and fences it, and the tablet, fenced, kills that
//     mysqld before it gives the lease back.
//
// When a primary's health stream breaks and both its gRPC and mysqld
// ports refuse connections, the processes are gone, and the controller
// breaks their lease at once instead of waiting for it to expire; a
// timeout proves nothing and only the lease decides.
//
// The decisions are one pure function, decide (decide.go): state, event
// and time in, actions out, tested with the scripts in testdata/*.txt.
// Run is the loop around it: its goroutines turn watches, health streams,
// probes and finished reparents into events, and it carries out the
// actions.
//
// Safety does not rest on the controller: the emergency reparent fences
// the old primary through the shard record and waits for its lease to go
// before it promotes anyone, and it runs under the shard lock, re-checking
// the primary's health there and, before each step that changes tablets,
// that it still holds the lock and the record is as it left it; so several
// controllers, an operator's reparent at the same time, or a controller
// that was frozen (SIGSTOP, a paused VM) and acts on what it knew before
// are harmless. A controller that has just started leaves shards alone for
// StartupGrace unless it saw their primary healthy, so that a cluster that
// is starting is not failed over.
//
// failover never starts tablets and never imports proxy.
package failover
