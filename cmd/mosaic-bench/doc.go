// Command mosaic-bench measures Mosaic, or any MySQL endpoint: sysbench-
// and TPC-C-style workloads (prepare, run, cleanup), side-by-side
// comparisons of two endpoints, and `suite`, the benchmark `make bench`
// runs against a local cluster.
package main
