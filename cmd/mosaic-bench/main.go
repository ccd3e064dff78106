package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := &cobra.Command{
		Use:   "mosaic-bench",
		Short: "benchmark Mosaic against any MySQL endpoint",
		Long: `mosaic-bench drives workloads against any MySQL DSN (go-sql-driver form,
e.g. root@tcp(127.0.0.1:15306)/commerce):

  point-select  SELECT c FROM sbtest1 WHERE id = ?
  read-only     sysbench oltp_read_only: 10 point selects, 4 range queries per transaction
  read-write    sysbench oltp_read_write: read-only plus 2 updates, a delete and an insert
  insert        one INSERT per event
  scatter-agg   aggregates over a secondary-index range: every shard answers
  tpcc-lite     TPC-C new-order and payment transactions, sharded by warehouse

Statements go as text with inlined values (COM_QUERY).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newPrepareCmd(),
		newRunCmd(),
		newCleanupCmd(),
		newCompareCmd(),
		newSuiteCmd(),
		newVSchemaCmd(),
		newForwardCmd(),
		newTLSCostCmd(),
	)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "mosaic-bench:", err)
		os.Exit(1)
	}
}
