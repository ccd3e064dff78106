package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/credentials"

	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/tablet/restorepoint"
	"github.com/mosaicdb/mosaic/tablet/tmclient"
	"github.com/mosaicdb/mosaic/topo"
)

// tmDialer dials tablets' TabletManager with creds.
func tmDialer(creds credentials.TransportCredentials) restorepoint.Dialer {
	return func(t *topodatapb.Tablet) (tabletmanagerpb.TabletManagerClient, func(), error) {
		c, err := tmclient.DialTablet(t, creds)
		if err != nil {
			return nil, nil, err
		}
		return c.TM, func() { c.Close() }, nil
	}
}

// newRestorePointCmd is `mosaicctl restore-point`: keyspace-wide
// consistent restore points (tablet/restorepoint).
func newRestorePointCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "restore-point",
		Short: "take, list and prune keyspace-wide consistent restore points (each shard's position at one instant with no distributed commit half done)",
	}
	var keyspace string
	var ttl time.Duration
	create := &cobra.Command{
		Use:   "create",
		Short: "take a restore point of a keyspace now",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ts, err := a.topo()
			if err != nil {
				return err
			}
			creds, err := a.tabletCreds()
			if err != nil {
				return err
			}
			rp, err := restorepoint.Take(cmd.Context(), ts, keyspace, tmDialer(creds), restorepoint.Options{TTL: ttl})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "restore point %s of keyspace %s (distributed commits held %v)\n", rp.Id, keyspace, time.Duration(rp.HoldNs).Round(time.Microsecond))
			return printRestorePoints(cmd, []*topodatapb.RestorePoint{rp})
		},
	}
	create.Flags().StringVar(&keyspace, "keyspace", "", "keyspace")
	create.Flags().DurationVar(&ttl, "hold-ttl", 2*time.Second, "a commit hold not lifted by then lifts by itself (and the restore point is not taken)")
	create.MarkFlagRequired("keyspace")

	var listKeyspace string
	list := &cobra.Command{
		Use:   "list",
		Short: "list a keyspace's restore points, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ts, err := a.topo()
			if err != nil {
				return err
			}
			rps, err := ts.ListRestorePoints(cmd.Context(), listKeyspace)
			if err != nil {
				return err
			}
			return printRestorePoints(cmd, rps)
		},
	}
	list.Flags().StringVar(&listKeyspace, "keyspace", "", "keyspace")
	list.MarkFlagRequired("keyspace")

	var pruneKeyspace string
	var keep time.Duration
	prune := &cobra.Command{
		Use:   "prune",
		Short: "delete a keyspace's restore points older than --keep",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ts, err := a.topo()
			if err != nil {
				return err
			}
			n, err := restorepoint.Prune(cmd.Context(), ts, pruneKeyspace, keep, time.Now())
			fmt.Fprintf(cmd.OutOrStdout(), "deleted %d restore points\n", n)
			return err
		},
	}
	prune.Flags().StringVar(&pruneKeyspace, "keyspace", "", "keyspace")
	prune.Flags().DurationVar(&keep, "keep", 7*24*time.Hour, "keep restore points younger than this")
	prune.MarkFlagRequired("keyspace")
	cmd.AddCommand(create, list, prune)
	return cmd
}

func printRestorePoints(cmd *cobra.Command, rps []*topodatapb.RestorePoint) error {
	w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tTIME\tHELD\tSHARD\tPOSITION")
	for _, rp := range rps {
		shards := make([]string, 0, len(rp.Positions))
		for s := range rp.Positions {
			shards = append(shards, s)
		}
		topo.SortShardNames(shards)
		for i, s := range shards {
			if i == 0 {
				fmt.Fprintf(w, "%s\t%s\t%v\t%s\t%s\n", rp.Id, time.Unix(0, rp.TimeUnixNano).UTC().Format(time.RFC3339Nano), time.Duration(rp.HoldNs).Round(time.Microsecond), s, rp.Positions[s])
			} else {
				fmt.Fprintf(w, "\t\t\t%s\t%s\n", s, rp.Positions[s])
			}
		}
	}
	return w.Flush()
}
