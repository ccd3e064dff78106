// Command mosaic-bench measures Mosaic: workloads against any MySQL DSN.
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
		Use:           "mosaic-bench",
		Short:         "benchmark Mosaic against any MySQL endpoint",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "mosaic-bench:", err)
		os.Exit(1)
	}
}
