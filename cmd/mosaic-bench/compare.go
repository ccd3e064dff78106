package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mosaicdb/mosaic/bench"
)

func newCompareCmd() *cobra.Command {
	var dsnA, dsnB, labelA, labelB string
	var rounds int
	cmd := &cobra.Command{
		Use:   "compare WORKLOAD",
		Short: "run a workload against two DSNs in alternating rounds; print medians and the ratio A/B",
		Long: `compare runs the same workload against DSN A and DSN B in alternating
rounds (A B, B A, A B, ...) of --duration each, after a --warmup on each
side, and prints each side's median QPS, TPS and latencies and the ratio
A/B. Prepare the workload on both sides first.`,
		Args: cobra.ExactArgs(1),
	}
	wf := addWorkloadFlags(cmd.Flags())
	rf := addRunFlags(cmd.Flags())
	fs := cmd.Flags()
	fs.StringVar(&dsnA, "a", "", "DSN of side A, e.g. the gate")
	fs.StringVar(&dsnB, "b", "", "DSN of side B, e.g. mysqld directly")
	fs.StringVar(&labelA, "label-a", "A", "name of side A")
	fs.StringVar(&labelB, "label-b", "B", "name of side B")
	fs.IntVar(&rounds, "rounds", 3, "measured rounds per side")
	cmd.MarkFlagRequired("a")
	cmd.MarkFlagRequired("b")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		w, err := wf.workload(args[0])
		if err != nil {
			return err
		}
		a, err := openDB(dsnA)
		if err != nil {
			return err
		}
		defer a.Close()
		b, err := openDB(dsnB)
		if err != nil {
			return err
		}
		defer b.Close()
		probe, err := rf.probe()
		if err != nil {
			return err
		}
		co := bench.CompareOptions{Run: rf.opts, Rounds: rounds, LabelA: labelA, LabelB: labelB}
		if probe != nil {
			co.Probe = probe
		}
		c, err := bench.Compare(cmd.Context(), a, b, w, co)
		if err != nil {
			return err
		}
		if rf.json {
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(c)
		}
		fmt.Fprint(cmd.OutOrStdout(), c.Text())
		return nil
	}
	return cmd
}
