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
	// The first signal asks for a clean stop; a second one kills at once
	// (the default action comes back).
	context.AfterFunc(ctx, stop)
	root := &cobra.Command{
		Use:           "mosaic",
		Short:         "Mosaic: a MySQL-protocol sharding system",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	logFlags := addLogFlags(root)
	root.AddCommand(
		newTabletCmd(logFlags),
		newGateCmd(logFlags),
		newFailoverCmd(logFlags),
		newUpCmd(logFlags),
	)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "mosaic:", err)
		os.Exit(1)
	}
}
