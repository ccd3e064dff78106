// Package e2e holds Mosaic's end-to-end tests: a real cluster (embedded
// etcd, tablets running real mariadbd, a gate) started in-process by
// e2e/cluster, driven through the gate with real MySQL clients.
package e2e
