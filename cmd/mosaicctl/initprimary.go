package main

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/mosaicdb/mosaic/tablet/tmclient"
	"github.com/mosaicdb/mosaic/topo"
)

func newInitPrimaryCmd(a *app) *cobra.Command {
	var keyspace, shard, alias string
	var cells []string
	cmd := &cobra.Command{
		Use:   "init-primary",
		Short: "make a tablet the first primary of a new shard and point the others at it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ts, err := a.topo()
			if err != nil {
				return err
			}
			ta, err := topo.ParseAlias(alias)
			if err != nil {
				return err
			}
			creds, err := a.tabletCreds()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			if err := tmclient.InitShardPrimary(ctx, ts, creds, keyspace, shard, ta, log); err != nil {
				return err
			}
			if len(cells) == 0 {
				cells = []string{ta.Cell}
			}
			for _, cell := range cells {
				if err := ts.RebuildSrvKeyspace(ctx, cell, keyspace); err != nil {
					return fmt.Errorf("rebuild serving graph of %s in %s: %w", keyspace, cell, err)
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s is the primary of %s/%s\n", alias, keyspace, shard)
			return nil
		},
	}
	cmd.Flags().StringVar(&keyspace, "keyspace", "", "keyspace")
	cmd.Flags().StringVar(&shard, "shard", "", "shard")
	cmd.Flags().StringVar(&alias, "tablet", "", "alias of the new primary, e.g. zone1-100")
	cmd.Flags().StringSliceVar(&cells, "cells", nil, "cells whose serving graph to rebuild (default: the tablet's)")
	for _, f := range []string{"keyspace", "shard", "tablet"} {
		cmd.MarkFlagRequired(f)
	}
	return cmd
}
