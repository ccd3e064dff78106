// Package e2e holds Mosaic's end-to-end tests: a real cluster (embedded
// etcd, tablets running real mariadbd, a gate) started in-process by
// e2e/cluster, driven through the gate with real MySQL clients. Tests that
// kill tablets with SIGKILL run them as child processes of the test (the
// mosaic binary, built by the test): see TestFailoverKill9.
//
// Measurements: go test ./e2e -run TestFailoverKill9 -failover-runs 10 -v
// (recovery after kill -9 of the primary), and go test ./e2e -run
// TestReplication/RepairLostDataDir -repair-mb 200 -v (replica repair).
package e2e
