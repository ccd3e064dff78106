// Command mosaic runs Mosaic's long-lived processes: `mosaic gate`,
// `mosaic tablet`, `mosaic failover` (the failure detector), and
// `mosaic up` (a whole local cluster).
package main
