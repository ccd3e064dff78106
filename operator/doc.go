// Package operator reconciles MosaicCluster objects (package api/v1alpha1)
// into Kubernetes objects: one pod and one PersistentVolumeClaim per
// tablet, a headless Service for the tablets, the gate Deployment and its
// Service, PodDisruptionBudgets, and an etcd StatefulSet when the cluster
// asks the operator to run its topology.
//
// The decisions are pure functions, tested without an API server: Plan
// (which tablets exist, which are added, removed or rolled, given the
// observed pods and claims and the shards' primaries from topo) and the
// render functions (the objects for a tablet, the gate, the budgets).
// Reconciler is the thin loop of controller-runtime that reads the
// objects, calls them, and writes the result; its tests run against a real
// kube-apiserver and etcd (envtest, scripts/k8s-test-assets.sh).
//
// Why individual pods and not a StatefulSet per shard: a shard's tablets
// are not interchangeable (one is the primary), and a rolling change must
// restart the replicas first, then move the primary away with a planned
// reparent, then restart the old primary. A StatefulSet restarts by
// ordinal and cannot know the primary; vitess-operator chose individual
// pods for the same reason. Each tablet's identity (cell and uid, hence
// its alias <cell>-<uid>) lives in the labels of its pod and its claim,
// so a deleted pod comes back with the same alias and volume.
//
// The operator registers nothing in topo by hand: tablets register
// themselves. It reads topo (through the Topo interface) for the
// shards' primaries and serving state, and asks it for the two things
// only an operator does: a new shard's first primary and a planned
// reparent before the primary's pod is rolled.
//
// operator does not import proxy, router or tablet internals.
package operator
