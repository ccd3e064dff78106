// Command mosaic-operator runs the Kubernetes operator of Mosaic: it
// reconciles MosaicCluster objects (package operator) into tablet pods and
// claims, the gates, budgets and services, and reads each cluster's topo to
// give new shards their first primary, report status and roll primaries
// with a planned reparent. deploy/ holds its manifests; docs/kubernetes.md
// says how to run it.
package main
