package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/mosaicdb/mosaic/bench"
)

const defaultDSN = "root@tcp(127.0.0.1:15306)/commerce"

func newPrepareCmd() *cobra.Command {
	var dsn string
	cmd := &cobra.Command{
		Use:   "prepare WORKLOAD",
		Short: "create and fill a workload's tables (replacing them)",
		Args:  cobra.ExactArgs(1),
	}
	wf := addWorkloadFlags(cmd.Flags())
	cmd.Flags().StringVar(&dsn, "dsn", defaultDSN, "MySQL DSN (go-sql-driver form)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		w, err := wf.workload(args[0])
		if err != nil {
			return err
		}
		db, err := openDB(dsn)
		if err != nil {
			return err
		}
		defer db.Close()
		start := time.Now()
		if err := w.Prepare(cmd.Context(), db); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "prepared %s in %v\n", w.Name(), time.Since(start).Round(time.Millisecond))
		return nil
	}
	return cmd
}

func newCleanupCmd() *cobra.Command {
	var dsn string
	cmd := &cobra.Command{
		Use:   "cleanup WORKLOAD",
		Short: "drop a workload's tables",
		Args:  cobra.ExactArgs(1),
	}
	wf := addWorkloadFlags(cmd.Flags())
	cmd.Flags().StringVar(&dsn, "dsn", defaultDSN, "MySQL DSN (go-sql-driver form)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		w, err := wf.workload(args[0])
		if err != nil {
			return err
		}
		db, err := openDB(dsn)
		if err != nil {
			return err
		}
		defer db.Close()
		return w.Cleanup(cmd.Context(), db)
	}
	return cmd
}

func newRunCmd() *cobra.Command {
	var dsn, label string
	cmd := &cobra.Command{
		Use:   "run WORKLOAD",
		Short: "drive a prepared workload and print QPS, TPS, latency percentiles and errors",
		Args:  cobra.ExactArgs(1),
	}
	wf := addWorkloadFlags(cmd.Flags())
	rf := addRunFlags(cmd.Flags())
	cmd.Flags().StringVar(&dsn, "dsn", defaultDSN, "MySQL DSN (go-sql-driver form)")
	cmd.Flags().StringVar(&label, "label", "", "name of the endpoint in the output")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		w, err := wf.workload(args[0])
		if err != nil {
			return err
		}
		db, err := openDB(dsn)
		if err != nil {
			return err
		}
		defer db.Close()
		opts := rf.opts
		opts.Label = label
		probe, err := rf.probe()
		if err != nil {
			return err
		}
		if probe != nil {
			// The probe brackets the measured window only.
			if opts.Warmup > 0 {
				wo := opts
				wo.Duration, wo.Warmup = opts.Warmup, 0
				if _, err := bench.Run(cmd.Context(), db, w, wo); err != nil {
					return err
				}
				opts.Warmup = 0
			}
			probe.Begin("")
		}
		res, err := bench.Run(cmd.Context(), db, w, opts)
		if err != nil {
			return err
		}
		if probe != nil {
			res.CPU, _ = probe.End("", res)
		}
		if rf.json {
			_, err = cmd.OutOrStdout().Write(res.JSON())
			return err
		}
		fmt.Fprint(cmd.OutOrStdout(), res.Text())
		return nil
	}
	return cmd
}

func newVSchemaCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "vschema",
		Short: "print a VSchema sharding every workload's tables (for mosaicctl vschema apply)",
		Args:  cobra.NoArgs,
	}
	wf := addWorkloadFlags(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		fmt.Fprintln(cmd.OutOrStdout(), bench.VSchemaJSON(wf.opts))
		return nil
	}
	return cmd
}
