package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proto/vreplicationpb"
	"github.com/mosaicdb/mosaic/tablet/vrepl/workflow"
	"github.com/mosaicdb/mosaic/topo"
)

// newReshardCmd is `mosaicctl reshard ...`: the resharding workflow.
func newReshardCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "reshard",
		Short: "change a keyspace's shards while it serves: create, show, vdiff, switch-traffic, reverse-traffic, complete, cancel",
	}
	var keyspace, name string
	flags := func(c *cobra.Command) *cobra.Command {
		c.Flags().StringVar(&keyspace, "keyspace", "", "keyspace")
		c.Flags().StringVar(&name, "workflow", "", "workflow name")
		c.MarkFlagRequired("keyspace")
		c.MarkFlagRequired("workflow")
		return c
	}
	manager := func(cmd *cobra.Command) (*workflow.Manager, error) {
		ts, err := a.topo()
		if err != nil {
			return nil, err
		}
		creds, err := a.tabletCreds()
		if err != nil {
			return nil, err
		}
		return workflow.New(ts, creds, slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))), nil
	}

	var sources, targets []string
	create := flags(&cobra.Command{
		Use:   "create",
		Short: "create the target shards' tables and start copying into them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := manager(cmd)
			if err != nil {
				return err
			}
			wf, err := m.CreateReshard(cmd.Context(), workflow.ReshardRequest{Keyspace: keyspace, Workflow: name, SourceShards: sources, TargetShards: targets})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "workflow %s created in %s: %d tables from %s to %s; follow it with `mosaicctl reshard show --keyspace %s --workflow %s --wait`\n",
				wf.Name, keyspace, len(wf.Tables), strings.Join(wf.SourceShards, ","), strings.Join(wf.TargetShards, ","), keyspace, wf.Name)
			return nil
		},
	})
	create.Flags().StringSliceVar(&sources, "source-shards", nil, "the shards that serve now, e.g. -80,80-")
	create.Flags().StringSliceVar(&targets, "target-shards", nil, "the new shards, e.g. -40,40-80,80-c0,c0-")
	create.MarkFlagRequired("source-shards")
	create.MarkFlagRequired("target-shards")

	var wait bool
	var maxLag time.Duration
	show := flags(&cobra.Command{
		Use:   "show",
		Short: "show each stream's phase, rows copied, rate, ETA and lag; --wait until every stream runs with little lag",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := manager(cmd)
			if err != nil {
				return err
			}
			if !wait {
				r, err := m.Show(cmd.Context(), keyspace, name)
				if err != nil {
					return err
				}
				printReport(cmd.OutOrStdout(), r)
				return nil
			}
			return waitCaught(cmd.Context(), cmd.OutOrStdout(), m, keyspace, name, maxLag)
		},
	})
	show.Flags().BoolVar(&wait, "wait", false, "wait (drawing progress) until every stream has copied its rows and lags less than --max-lag")
	show.Flags().DurationVar(&maxLag, "max-lag", time.Second, "with --wait: the lag under which a stream counts as caught up")

	var tables []string
	var samples int
	vdiff := flags(&cobra.Command{
		Use:   "vdiff",
		Short: "compare every row of the sources with the targets at one consistent point; exit 0 only when identical",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := manager(cmd)
			if err != nil {
				return err
			}
			start := time.Now()
			r, err := m.VDiff(cmd.Context(), keyspace, name, tables, samples)
			if err != nil {
				return err
			}
			printVDiff(cmd.OutOrStdout(), r, time.Since(start))
			if !r.Clean() {
				return errors.New("vdiff found differences")
			}
			return nil
		},
	})
	vdiff.Flags().StringSliceVar(&tables, "tables", nil, "compare only these tables")
	vdiff.Flags().IntVar(&samples, "max-samples", 10, "sample keys shown per kind of difference")

	stop := flags(&cobra.Command{
		Use:   "stop",
		Short: "stop the workflow's streams where they are (they keep their progress)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := manager(cmd)
			if err != nil {
				return err
			}
			if err := m.Stop(cmd.Context(), keyspace, name, "stopped by mosaicctl reshard stop"); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "workflow %s stopped\n", name)
			return nil
		},
	})
	start := flags(&cobra.Command{
		Use:   "start",
		Short: "run a stopped workflow's streams again (also retries streams stopped by an error)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := manager(cmd)
			if err != nil {
				return err
			}
			if err := m.Start(cmd.Context(), keyspace, name); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "workflow %s started\n", name)
			return nil
		},
	})

	var keepData bool
	cancel := flags(&cobra.Command{
		Use:   "cancel",
		Short: "before any traffic switch: stop the workflow, forget it and drop the copied tables on the target shards",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := manager(cmd)
			if err != nil {
				return err
			}
			if err := m.Cancel(cmd.Context(), keyspace, name, keepData); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "workflow %s cancelled", name)
			if !keepData {
				fmt.Fprint(cmd.OutOrStdout(), "; its tables on the target shards are dropped")
			}
			fmt.Fprintln(cmd.OutOrStdout())
			return nil
		},
	})
	cancel.Flags().BoolVar(&keepData, "keep-data", false, "keep the copied tables on the target shards")

	var completeKeep bool
	complete := flags(&cobra.Command{
		Use:   "complete",
		Short: "once every tablet type's traffic is on the targets: remove the source shards and their data, and the workflow",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := manager(cmd)
			if err != nil {
				return err
			}
			if err := m.Complete(cmd.Context(), keyspace, name, completeKeep, false); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "workflow %s completed: the source shards are gone from topo", name)
			if !completeKeep {
				fmt.Fprint(cmd.OutOrStdout(), " and their tables dropped")
			}
			fmt.Fprintln(cmd.OutOrStdout(), "; stop their tablets where no reconciler (mosaic up) does")
			return nil
		},
	})
	complete.Flags().BoolVar(&completeKeep, "keep-data", false, "keep the tables on the source shards' mysqld")

	var typeNames []string
	var tr workflow.TrafficRequest
	traffic := func(use, short string, run func(*workflow.Manager, context.Context, workflow.TrafficRequest) ([]workflow.SwitchStep, error)) *cobra.Command {
		c := flags(&cobra.Command{
			Use:   use,
			Short: short,
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, args []string) error {
				m, err := manager(cmd)
				if err != nil {
					return err
				}
				req := tr
				req.Keyspace, req.Workflow = keyspace, name
				for _, n := range typeNames {
					tt, err := topo.ParseTabletType(n)
					if err != nil {
						return err
					}
					req.TabletTypes = append(req.TabletTypes, tt)
				}
				steps, err := run(m, cmd.Context(), req)
				for _, st := range steps {
					printStep(cmd.OutOrStdout(), st)
				}
				return err
			},
		})
		c.Flags().StringSliceVar(&typeNames, "tablet-types", nil, "the tablet types to move: replica, rdonly, primary (default: every one not moved yet, reads first)")
		c.Flags().DurationVar(&tr.MaxLag, "max-lag", workflow.DefaultMaxLag, "refuse the switch unless the streams feeding the shards that take the traffic lag less than this")
		c.Flags().DurationVar(&tr.CatchUpTimeout, "catch-up-timeout", workflow.DefaultCatchUpTimeout, "primary: how long the fenced sources may wait for the streams to catch up before the switch is rolled back (gates hold writes meanwhile: keep it under their --buffer-window)")
		c.Flags().DurationVar(&tr.DrainTimeout, "drain-timeout", 0, "primary: how long the fenced primaries wait for open transactions before they roll them back (0: the tablets' --query-service-drain-timeout)")
		return c
	}
	switchTraffic := traffic("switch-traffic", "move reads, then writes, to the target shards (writes: fence, catch up, switch in one topo commit, reverse streams started)",
		(*workflow.Manager).SwitchTraffic)
	reverseTraffic := traffic("reverse-traffic", "move traffic back to the source shards, which the reverse streams kept in step",
		(*workflow.Manager).ReverseTraffic)

	list := &cobra.Command{
		Use:   "list",
		Short: "list the workflows of a keyspace",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ts, err := a.topo()
			if err != nil {
				return err
			}
			wfs, err := ts.ListWorkflows(cmd.Context(), keyspace)
			if err != nil {
				return err
			}
			for _, wf := range wfs {
				fmt.Fprintf(cmd.OutOrStdout(), "%s\t%v\t%s -> %s\t%v\n", wf.Name, wf.State, strings.Join(wf.SourceShards, ","), strings.Join(wf.TargetShards, ","), wf.SwitchedTypes)
			}
			return nil
		},
	}
	list.Flags().StringVar(&keyspace, "keyspace", "", "keyspace")
	list.MarkFlagRequired("keyspace")

	cmd.AddCommand(create, show, vdiff, stop, start, switchTraffic, reverseTraffic, cancel, complete, list)
	return cmd
}

// printStep prints a traffic move.
func printStep(w io.Writer, st workflow.SwitchStep) {
	types := make([]string, len(st.TabletTypes))
	for i, tt := range st.TabletTypes {
		types[i] = topo.TabletTypeString(tt)
	}
	if st.FromKeyspace != "" {
		fmt.Fprintf(w, "%s traffic of the tables moved from %s (%s) to %s (%s)", strings.Join(types, ","), st.FromKeyspace, strings.Join(st.From, ","), st.ToKeyspace, strings.Join(st.To, ","))
	} else {
		fmt.Fprintf(w, "%s traffic moved from %s to %s", strings.Join(types, ","), strings.Join(st.From, ","), strings.Join(st.To, ","))
	}
	if st.Positions == nil {
		fmt.Fprintf(w, " (commit %v)\n", st.Commit.Round(time.Millisecond))
		return
	}
	fmt.Fprintf(w, "; writes held %v (fence %v, drain %v, catch-up %v, stop %v, commit %v); %s now streams the other way\n",
		st.Pause.Round(time.Millisecond), st.Fence.Round(time.Millisecond), st.Drain.Round(time.Millisecond), st.CatchUp.Round(time.Millisecond), st.Stop.Round(time.Millisecond), st.Commit.Round(time.Millisecond), st.Reverse)
}

// moveTablesServing says which keyspace serves each tablet type of a
// table move: "primary served by commerce, replica,rdonly by customer".
func moveTablesServing(wf *vreplicationpb.Workflow) string {
	var onSource, onTarget []string
	for _, tt := range []topodatapb.TabletType{topodatapb.TabletType_PRIMARY, topodatapb.TabletType_REPLICA, topodatapb.TabletType_RDONLY} {
		if slices.Contains(wf.SwitchedTypes, tt) {
			onTarget = append(onTarget, topo.TabletTypeString(tt))
		} else {
			onSource = append(onSource, topo.TabletTypeString(tt))
		}
	}
	var parts []string
	if len(onSource) > 0 {
		parts = append(parts, strings.Join(onSource, ",")+" served by "+wf.SourceKeyspace)
	}
	if len(onTarget) > 0 {
		parts = append(parts, strings.Join(onTarget, ",")+" served by "+wf.TargetKeyspace)
	}
	return strings.Join(parts, ", ")
}

// printReport prints a workflow and its streams as a table.
func printReport(w io.Writer, r *workflow.Report) {
	wf := r.Workflow
	if wf.Type == vreplicationpb.WorkflowType_MOVE_TABLES {
		var names []string
		for _, t := range wf.Tables {
			names = append(names, t.Name)
		}
		fmt.Fprintf(w, "workflow %s: tables %s from %s (%s) to %s (%s), state %v", wf.Name, strings.Join(names, ","), wf.SourceKeyspace, strings.Join(wf.SourceShards, ","), wf.TargetKeyspace, strings.Join(wf.TargetShards, ","), wf.State)
	} else {
		fmt.Fprintf(w, "workflow %s: %s %s -> %s, %d tables, state %v", wf.Name, wf.TargetKeyspace, strings.Join(wf.SourceShards, ","), strings.Join(wf.TargetShards, ","), len(wf.Tables), wf.State)
	}
	if wf.Type == vreplicationpb.WorkflowType_MOVE_TABLES && !wf.IsReverse {
		fmt.Fprintf(w, ", %s", moveTablesServing(wf))
	} else if len(wf.SwitchedTypes) > 0 {
		fmt.Fprintf(w, ", traffic switched for %v", wf.SwitchedTypes)
	}
	if wf.Message != "" {
		fmt.Fprintf(w, " (%s)", wf.Message)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tSOURCE\tPHASE\tCOPIED\tRATE\tETA\tLAG\tTABLE\tPOSITION\tMESSAGE")
	for _, st := range r.Streams {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", st.TargetShard, st.SourceShard, st.Phase, copiedText(st), rateText(st), etaText(st), lagText(st), st.Table, st.Position, oneLine(st.Message))
	}
	tw.Flush()
	for s, e := range r.Unreachable {
		fmt.Fprintf(w, "target %s did not answer: %s\n", s, e)
	}
}

func copiedText(st *vreplicationpb.StreamStatus) string {
	if st.RowsTotal <= 0 {
		return fmt.Sprintf("%d", st.RowsCopied)
	}
	return fmt.Sprintf("%d/~%d (%d%%)", st.RowsCopied, st.RowsTotal, min(100, st.RowsCopied*100/st.RowsTotal))
}

func rateText(st *vreplicationpb.StreamStatus) string {
	if st.Phase != "copying" || st.RowsPerSecond <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f rows/s", st.RowsPerSecond)
}

func etaText(st *vreplicationpb.StreamStatus) string {
	if st.Phase != "copying" || st.RowsPerSecond <= 0 || st.RowsTotal <= st.RowsCopied {
		return "-"
	}
	return (time.Duration(float64(st.RowsTotal-st.RowsCopied)/st.RowsPerSecond) * time.Second).Round(time.Second).String()
}

func lagText(st *vreplicationpb.StreamStatus) string {
	if st.Phase != "running" || st.LagSeconds < 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fs", st.LagSeconds)
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// waitCaught shows progress until every stream runs with lag under
// maxLag: a redrawn bar and table on a terminal, a line now and then
// otherwise.
func waitCaught(ctx context.Context, w io.Writer, m *workflow.Manager, ks, name string, maxLag time.Duration) error {
	tty := isTerminal(w)
	lines := 0
	lastLine := time.Time{}
	for {
		r, err := m.Show(ctx, ks, name)
		if err != nil {
			return err
		}
		ok, why := r.Caught(maxLag.Seconds())
		var copied, total int64
		for _, st := range r.Streams {
			copied += st.RowsCopied
			total += max(st.RowsTotal, st.RowsCopied)
		}
		pct := 100.0
		if total > 0 {
			pct = float64(copied) * 100 / float64(total)
		}
		if tty {
			var b strings.Builder
			fmt.Fprintf(&b, "%s %5.1f%%  %d of ~%d rows  %s\n", bar(pct, 40), pct, copied, total, why)
			printReport(&b, r)
			out := b.String()
			if lines > 0 {
				fmt.Fprintf(w, "\x1b[%dA\x1b[J", lines)
			}
			fmt.Fprint(w, out)
			lines = strings.Count(out, "\n")
		} else if ok || time.Since(lastLine) >= 10*time.Second {
			fmt.Fprintf(w, "%s: %.1f%% copied (%d of ~%d rows); %s\n", time.Now().Format(time.TimeOnly), pct, copied, total, orDone(why))
			lastLine = time.Now()
		}
		if ok {
			if !tty {
				printReport(w, r)
			}
			fmt.Fprintf(w, "every stream of %s has copied its rows and lags less than %v\n", name, maxLag)
			return nil
		}
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last: %s)", name, ctx.Err(), why)
		}
	}
}

func orDone(why string) string {
	if why == "" {
		return "caught up"
	}
	return why
}

func bar(pct float64, width int) string {
	n := int(pct / 100 * float64(width))
	n = max(0, min(width, n))
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// printVDiff prints a vdiff report per table.
func printVDiff(w io.Writer, r *workflow.VDiffReport, took time.Duration) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tCOMPARED\tMISSING\tEXTRA\tDIFFERENT")
	for _, t := range r.Tables {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\n", t.Table, t.Compared, t.Missing, t.Extra, t.Different)
	}
	tw.Flush()
	for _, t := range r.Tables {
		for _, k := range t.SampleMissing {
			fmt.Fprintf(w, "%s: missing on the target: %s\n", t.Table, k)
		}
		for _, k := range t.SampleExtra {
			fmt.Fprintf(w, "%s: extra on the target: %s\n", t.Table, k)
		}
		for _, k := range t.SampleDifferent {
			fmt.Fprintf(w, "%s: different: %s\n", t.Table, k)
		}
	}
	verdict := "identical"
	if !r.Clean() {
		verdict = "DIFFERENT"
	}
	fmt.Fprintf(w, "vdiff: %s (%v)\n", verdict, took.Round(time.Millisecond))
	for _, s := range r.Shards {
		fmt.Fprintf(w, "  target %s at source positions %v\n", s.TargetShard, s.Positions)
	}
}
