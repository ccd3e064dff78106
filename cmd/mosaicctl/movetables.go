package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proto/vreplicationpb"
	"github.com/mosaicdb/mosaic/router"
	"github.com/mosaicdb/mosaic/tablet/vrepl/workflow"
	"github.com/mosaicdb/mosaic/topo"
)

// newMoveTablesCmd is `mosaicctl movetables ...`: moving tables from one
// keyspace to another while they serve (docs/movetables.md).
func newMoveTablesCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "movetables",
		Short: "move tables to another keyspace while they serve: create, show, vdiff, switch-traffic, reverse-traffic, complete, cancel",
	}
	var keyspace, name string
	flags := func(c *cobra.Command) *cobra.Command {
		c.Flags().StringVar(&keyspace, "target-keyspace", "", "the keyspace the tables move to (the workflow's home)")
		c.Flags().StringVar(&name, "workflow", "", "workflow name")
		c.MarkFlagRequired("target-keyspace")
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
	// moveTables refuses a workflow of another kind.
	moveTables := func(cmd *cobra.Command, _ *workflow.Manager) error {
		ts, err := a.topo()
		if err != nil {
			return err
		}
		wf, _, err := ts.GetWorkflow(cmd.Context(), keyspace, name)
		if err != nil {
			return err
		}
		if wf.IsReverse {
			return fmt.Errorf("workflow %s is the reverse of %s: name %s", name, wf.Reverse, wf.Reverse)
		}
		if wf.Type != vreplicationpb.WorkflowType_MOVE_TABLES {
			return fmt.Errorf("workflow %s is a %v workflow: use `mosaicctl reshard`", name, wf.Type)
		}
		return nil
	}

	var source string
	var tables []string
	var allTables bool
	create := flags(&cobra.Command{
		Use:   "create",
		Short: "create the tables in the target keyspace, route them to the source, and start copying",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := manager(cmd)
			if err != nil {
				return err
			}
			wf, err := m.CreateMoveTables(cmd.Context(), workflow.MoveTablesRequest{
				Workflow: name, SourceKeyspace: source, TargetKeyspace: keyspace, Tables: tables, AllTables: allTables,
			})
			if err != nil {
				return err
			}
			var names []string
			for _, t := range wf.Tables {
				names = append(names, t.Name)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "workflow %s created in %s: tables %s from %s (%s) to %s (%s); they stay served by %s until switch-traffic; follow it with `mosaicctl movetables show --target-keyspace %s --workflow %s --wait`\n",
				wf.Name, keyspace, strings.Join(names, ","), source, strings.Join(wf.SourceShards, ","), keyspace, strings.Join(wf.TargetShards, ","), source, keyspace, wf.Name)
			return nil
		},
	})
	create.Flags().StringVar(&source, "source-keyspace", "", "the keyspace the tables are in now")
	create.Flags().StringSliceVar(&tables, "tables", nil, "the tables to move, e.g. customer,corder")
	create.Flags().BoolVar(&allTables, "all-tables", false, "move every table of the source keyspace")
	create.MarkFlagRequired("source-keyspace")

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

	var diffTables []string
	var samples int
	vdiff := flags(&cobra.Command{
		Use:   "vdiff",
		Short: "compare every row of the moved tables in the source with the target at one consistent point; exit 0 only when identical",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := manager(cmd)
			if err != nil {
				return err
			}
			start := time.Now()
			r, err := m.VDiff(cmd.Context(), keyspace, name, diffTables, samples)
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
	vdiff.Flags().StringSliceVar(&diffTables, "tables", nil, "compare only these tables")
	vdiff.Flags().IntVar(&samples, "max-samples", 10, "sample keys shown per kind of difference")

	var cancelKeep bool
	cancel := flags(&cobra.Command{
		Use:   "cancel",
		Short: "before the traffic switch: stop the workflow, remove its routing rules and drop the copied tables in the target keyspace",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := manager(cmd)
			if err != nil {
				return err
			}
			if err := moveTables(cmd, m); err != nil {
				return err
			}
			if err := m.Cancel(cmd.Context(), keyspace, name, cancelKeep); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "workflow %s cancelled; its routing rules are removed", name)
			if !cancelKeep {
				fmt.Fprintf(cmd.OutOrStdout(), " and its tables in %s dropped", keyspace)
			}
			fmt.Fprintln(cmd.OutOrStdout())
			return nil
		},
	})
	cancel.Flags().BoolVar(&cancelKeep, "keep-data", false, "keep the copied tables in the target keyspace")

	var completeKeep, keepRules bool
	complete := flags(&cobra.Command{
		Use:   "complete",
		Short: "once traffic is on the target: drop the tables in the source keyspace, remove the routing rules and the workflow",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := manager(cmd)
			if err != nil {
				return err
			}
			if err := moveTables(cmd, m); err != nil {
				return err
			}
			if err := m.Complete(cmd.Context(), keyspace, name, completeKeep, keepRules); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "workflow %s completed", name)
			if !completeKeep {
				fmt.Fprint(cmd.OutOrStdout(), ": the tables are dropped in the source keyspace")
			}
			if !keepRules {
				fmt.Fprintf(cmd.OutOrStdout(), "; their routing rules are removed: clients name keyspace %s (or none) to reach them", keyspace)
			}
			fmt.Fprintln(cmd.OutOrStdout())
			return nil
		},
	})
	complete.Flags().BoolVar(&completeKeep, "keep-data", false, "keep the tables (and their VSchema entries) in the source keyspace")
	complete.Flags().BoolVar(&keepRules, "keep-routing-rules", false, "keep the routing rules that send the source keyspace's names of the tables to the target")

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
				if err := moveTables(cmd, m); err != nil {
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
		c.Flags().StringSliceVar(&typeNames, "tablet-types", nil, "the tablet types to move: replica,rdonly move reads alone (no fence); primary moves writes (switch-traffic takes the reads still on the source with them); default: every type not moved yet (switch) or moved (reverse)")
		c.Flags().DurationVar(&tr.MaxLag, "max-lag", workflow.DefaultMaxLag, "refuse the switch unless the streams feeding the keyspace that takes the traffic lag less than this")
		c.Flags().DurationVar(&tr.CatchUpTimeout, "catch-up-timeout", workflow.DefaultCatchUpTimeout, "how long the fenced keyspace may wait for the streams to catch up before the switch is rolled back (gates hold its writes meanwhile: keep it under their --buffer-window)")
		c.Flags().DurationVar(&tr.DrainTimeout, "drain-timeout", 0, "how long the fenced primaries wait for open transactions before they roll them back (0: the tablets' --query-service-drain-timeout)")
		return c
	}
	switchTraffic := traffic("switch-traffic", "route the tables to the target keyspace: reads alone (--tablet-types replica,rdonly: one commit of their routing rules), or writes and the remaining reads (fence the source, catch up, switch the routing rules in one topo commit, reverse streams started)",
		(*workflow.Manager).SwitchTraffic)
	reverseTraffic := traffic("reverse-traffic", "route the tables back to the source keyspace, which the reverse streams kept in step: the types named by --tablet-types, every switched type by default",
		(*workflow.Manager).ReverseTraffic)

	stop := flags(&cobra.Command{
		Use:   "stop",
		Short: "stop the workflow's streams where they are (they keep their progress)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := manager(cmd)
			if err != nil {
				return err
			}
			if err := m.Stop(cmd.Context(), keyspace, name, "stopped by mosaicctl movetables stop"); err != nil {
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

	cmd.AddCommand(create, show, vdiff, stop, start, switchTraffic, reverseTraffic, cancel, complete)
	return cmd
}

// newRoutingRulesCmd is `mosaicctl routing-rules get|apply`.
func newRoutingRulesCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "routing-rules", Short: "show and edit the routing rules (table -> keyspace.table redirects, table@replica for one tablet type; movetables writes them)"}
	get := &cobra.Command{
		Use:   "get",
		Short: "print the routing rules as JSON",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ts, err := a.topo()
			if err != nil {
				return err
			}
			rr, _, err := ts.GetRoutingRulesVersion(cmd.Context())
			if err != nil {
				return err
			}
			b, err := protojson.MarshalOptions{Multiline: true, UseProtoNames: true, EmitUnpopulated: true}.Marshal(rr)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), string(b))
			return nil
		},
	}
	var file, rules string
	var dryRun bool
	apply := &cobra.Command{
		Use:   "apply",
		Short: "replace the routing rules with those of a JSON file (--file) or string (--rules)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var data []byte
			switch {
			case file != "" && rules != "":
				return errors.New("give --file or --rules, not both")
			case file != "":
				b, err := os.ReadFile(file)
				if err != nil {
					return err
				}
				data = b
			case rules != "":
				data = []byte(rules)
			default:
				return errors.New("give the rules with --file or --rules")
			}
			rr := &topodatapb.RoutingRules{}
			if err := protojson.Unmarshal(data, rr); err != nil {
				return fmt.Errorf("routing rules: %w", err)
			}
			if err := validateRules(rr); err != nil {
				return err
			}
			if dryRun {
				fmt.Fprintf(cmd.OutOrStdout(), "%d routing rules are valid (not stored: --dry-run)\n", len(rr.Rules))
				return nil
			}
			ts, err := a.topo()
			if err != nil {
				return err
			}
			_, v, err := ts.GetRoutingRulesVersion(cmd.Context())
			if err != nil {
				return err
			}
			if _, err := ts.SaveRoutingRulesVersion(cmd.Context(), rr, v); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "applied %d routing rules\n", len(rr.Rules))
			return nil
		},
	}
	apply.Flags().StringVar(&file, "file", "", "JSON file: {\"rules\": [{\"from_table\": \"customer\", \"to_tables\": [\"commerce.customer\"]}, {\"from_table\": \"customer@replica\", \"to_tables\": [\"customer.customer\"]}]}")
	apply.Flags().StringVar(&rules, "rules", "", "the rules as a JSON string")
	apply.Flags().BoolVar(&dryRun, "dry-run", false, "only validate")
	cmd.AddCommand(get, apply)
	return cmd
}

// validateRules checks the rules as the gates will read them
// (router.ValidateRoutingRules): "table", "keyspace.table", either with
// "@replica" or "@rdonly", each to one keyspace.table, no two for one
// name and type.
func validateRules(rr *topodatapb.RoutingRules) error {
	return router.ValidateRoutingRules(rr)
}
