package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/tablet/reparent"
	"github.com/mosaicdb/mosaic/topo"
)

// newReparentCmd is `mosaicctl reparent planned|emergency`.
func newReparentCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "reparent", Short: "move a shard's primary: planned (healthy shard) or emergency (primary gone)"}
	var keyspace, shard, to string
	var opts reparent.Options
	run := func(kind string, fn func(*cobra.Command) (*reparent.Result, error)) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, _ []string) error {
			res, err := fn(cmd)
			if err != nil {
				return fmt.Errorf("%s reparent of %s/%s: %w", kind, keyspace, shard, err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%s is the primary of %s/%s (was %s), position %s\n",
				topo.AliasString(res.NewPrimary), keyspace, shard, aliasOrNone(res.OldPrimary), res.Position)
			fmt.Fprintf(out, "writes paused %v, reparent took %v\n", res.WritePause.Round(time.Millisecond), res.Duration.Round(time.Millisecond))
			for _, e := range res.RepointErrors {
				fmt.Fprintf(out, "warning: %v (it follows the shard record when it can)\n", e)
			}
			return nil
		}
	}
	prepare := func(cmd *cobra.Command) (*topo.Server, reparent.Options, error) {
		ts, err := a.topo()
		if err != nil {
			return nil, opts, err
		}
		o := opts
		o.Log = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
		if o.Creds, err = a.tabletCreds(); err != nil {
			return nil, o, err
		}
		if to != "" {
			alias, err := topo.ParseAlias(to)
			if err != nil {
				return nil, o, err
			}
			o.NewPrimary = alias
		}
		return ts, o, nil
	}
	planned := &cobra.Command{
		Use:   "planned",
		Short: "move a healthy shard's primary to a replica (--to, or the most advanced one); writes pause briefly",
		Args:  cobra.NoArgs,
	}
	planned.RunE = run("planned", func(cmd *cobra.Command) (*reparent.Result, error) {
		ts, o, err := prepare(cmd)
		if err != nil {
			return nil, err
		}
		return reparent.Planned(cmd.Context(), ts, keyspace, shard, o)
	})
	emergency := &cobra.Command{
		Use:   "emergency",
		Short: "promote the most advanced tablet of a shard whose primary is gone (the old primary is fenced first)",
		Args:  cobra.NoArgs,
	}
	emergency.RunE = run("emergency", func(cmd *cobra.Command) (*reparent.Result, error) {
		ts, o, err := prepare(cmd)
		if err != nil {
			return nil, err
		}
		return reparent.Emergency(cmd.Context(), ts, keyspace, shard, o)
	})
	for _, c := range []*cobra.Command{planned, emergency} {
		fs := c.Flags()
		fs.StringVar(&keyspace, "keyspace", "", "keyspace")
		fs.StringVar(&shard, "shard", "", "shard")
		fs.StringVar(&to, "to", "", "alias of the tablet to promote (default: the most advanced replica)")
		fs.DurationVar(&opts.WaitReplicasTimeout, "wait-replicas-timeout", 30*time.Second, "how long the new primary may take to catch up")
		c.MarkFlagRequired("keyspace")
		c.MarkFlagRequired("shard")
	}
	emergency.Flags().DurationVar(&opts.LeaseWait, "lease-wait", 15*time.Second, "how long to wait for the old primary's lease to go (it expires within the primary lease ttl)")
	cmd.AddCommand(planned, emergency)
	return cmd
}

func aliasOrNone(a *topodatapb.TabletAlias) string {
	if a == nil {
		return "none"
	}
	return topo.AliasString(a)
}
