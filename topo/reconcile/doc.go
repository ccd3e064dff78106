// Package reconcile decides what a reconciler of the topology does: which
// tablets to start for the shards in topo, which to stop because their
// shard is gone, and which shards to give their first primary.
//
// The desired state is in topo: every shard record is a shard that needs
// tablets (a primary and a configured number of replicas). The actual
// state is the reconciler's own tablets (local processes for `mosaic up`,
// pods for a Kubernetes operator) and the tablets others run (tablet
// records it does not own). Decide is a pure function from both to
// actions, with no I/O: the caller reads topo, runs the actions and calls
// it again on the next change it watches. It never starts tablets for a
// shard that someone else runs tablets of.
//
// reconcile does not import proxy, router or tablet.
package reconcile
