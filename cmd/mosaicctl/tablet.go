package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/tablet/tmclient"
	"github.com/mosaicdb/mosaic/topo"
)

// newTabletCmd is `mosaicctl tablet repair ALIAS`.
func newTabletCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "tablet", Short: "act on one tablet"}
	var donor string
	repair := &cobra.Command{
		Use:   "repair ALIAS",
		Short: "rebuild a replica from a healthy peer's physical copy (--donor, or the best peer) and resume replication",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ts, err := a.topo()
			if err != nil {
				return err
			}
			alias, err := topo.ParseAlias(args[0])
			if err != nil {
				return err
			}
			req := &tabletmanagerpb.RepairRequest{}
			if donor != "" {
				if req.Donor, err = topo.ParseAlias(donor); err != nil {
					return err
				}
			}
			t, err := ts.GetTablet(cmd.Context(), alias)
			if err != nil {
				return err
			}
			creds, err := a.tabletCreds()
			if err != nil {
				return err
			}
			c, err := tmclient.DialTablet(t, creds)
			if err != nil {
				return err
			}
			defer c.Close()
			resp, err := c.TM.Repair(cmd.Context(), req)
			if err != nil {
				return fmt.Errorf("repair %s: %w", args[0], err)
			}
			from := topo.AliasString(resp.Donor)
			if resp.BackupId != "" {
				from = "backup " + resp.BackupId
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s repaired from %s: %d MB copied in %v, replicating from position %s\n",
				args[0], from, resp.Bytes>>20, (time.Duration(resp.DurationMs) * time.Millisecond).Round(time.Millisecond), resp.Position)
			return nil
		},
	}
	repair.Flags().StringVar(&donor, "donor", "", "tablet to copy from (default: the most advanced healthy replica, else the primary)")
	cmd.AddCommand(repair, newTabletDeleteCmd(a))
	return cmd
}
