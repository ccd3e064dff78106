// Package bench measures a MySQL endpoint, whether a Mosaic gate or a plain
// mysqld: workloads in the style of sysbench (point-select, read-only,
// read-write, insert, scatter-agg) and a small TPC-C (tpcc-lite), a load
// driver with per-thread connections, an optional rate limit and latency
// histograms, side-by-side comparisons of two endpoints in alternating
// rounds, process CPU and memory probes read from /proc, and reports in
// text, JSON and markdown.
//
// It speaks to databases only through database/sql and the MySQL driver:
// it never imports Mosaic's own packages, so it measures what any
// application would see. Statements are sent as text with their values
// inlined (COM_QUERY), which every MySQL endpoint understands.
//
// Use it through cmd/mosaic-bench, or in Go:
//
//	w, _ := bench.NewWorkload("point-select", bench.DefaultWorkloadOptions())
//	_ = w.Prepare(ctx, db)
//	res, _ := bench.Run(ctx, db, w, bench.RunOptions{Threads: 8, Duration: 10 * time.Second})
//	fmt.Print(res.Text())
package bench
