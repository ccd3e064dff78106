package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/topo"
)

func newKeyspaceCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "keyspace", Short: "create and list keyspaces"}
	var sharded bool
	var durability, shards string
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "create a keyspace, with its first shards (serving at once) when --shards is given",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ts, err := a.topo()
			if err != nil {
				return err
			}
			rec := &topodatapb.Keyspace{Sharded: sharded, DurabilityPolicy: durability}
			if shards == "" {
				if err := ts.CreateKeyspace(cmd.Context(), args[0], rec); err != nil {
					return fmt.Errorf("create keyspace %s: %w", args[0], err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "created keyspace %s\n", args[0])
				return nil
			}
			names, err := splitShards(shards)
			if err != nil {
				return err
			}
			rec.Sharded = rec.Sharded || len(names) > 1
			if err := ts.CreateKeyspaceWithShards(cmd.Context(), args[0], rec, names); err != nil {
				return fmt.Errorf("create keyspace %s: %w", args[0], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created keyspace %s with shards %s, serving\n", args[0], strings.Join(names, ","))
			return nil
		},
	}
	create.Flags().BoolVar(&sharded, "sharded", false, "the keyspace will be sharded (its VSchema decides routing)")
	create.Flags().StringVar(&durability, "durability-policy", "semi_sync", "semi_sync or none")
	create.Flags().StringVar(&shards, "shards", "", "its first shards, covering the key range once (e.g. -80,80-, or 0): they serve at once")
	var cells []string
	rebuild := &cobra.Command{
		Use:   "rebuild-serving NAME",
		Short: "rewrite the keyspace's serving graph in cells from its record (it never changes which shards serve)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ts, err := a.topo()
			if err != nil {
				return err
			}
			if len(cells) == 0 {
				if cells, err = servingCells(cmd.Context(), ts, args[0]); err != nil {
					return err
				}
			}
			if len(cells) == 0 {
				return errors.New("no cell has a serving graph of the keyspace: name them with --cells")
			}
			for _, cell := range cells {
				if err := ts.RebuildSrvKeyspace(cmd.Context(), cell, args[0]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "rebuilt the serving graph of %s in %s\n", args[0], cell)
			}
			return nil
		},
	}
	rebuild.Flags().StringSliceVar(&cells, "cells", nil, "cells (default: those that have a serving graph of the keyspace)")
	list := &cobra.Command{
		Use:   "list",
		Short: "list keyspaces",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ts, err := a.topo()
			if err != nil {
				return err
			}
			names, err := ts.ListKeyspaces(cmd.Context())
			if err != nil {
				return err
			}
			for _, n := range names {
				fmt.Fprintln(cmd.OutOrStdout(), n)
			}
			return nil
		},
	}
	cancelSwitch := &cobra.Command{
		Use:   "cancel-switch NAME",
		Short: "end a traffic switch left under way without moving traffic: gates stop buffering, fenced primaries take writes again",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ts, err := a.topo()
			if err != nil {
				return err
			}
			if _, err := ts.CancelSwitch(cmd.Context(), args[0], 0); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "cancelled the traffic switch of %s: its shards serve as before it\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, list, newKeyspaceShowCmd(a), rebuild, cancelSwitch)
	return cmd
}

func newShardCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "shard", Short: "create, delete and list shards, set a shard's first primary"}
	var keyspace, format string
	list := &cobra.Command{
		Use:   "list",
		Short: "list the shards of a keyspace (or of every keyspace)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ts, err := a.topo()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			keyspaces := []string{keyspace}
			if keyspace == "" {
				if keyspaces, err = ts.ListKeyspaces(ctx); err != nil {
					return err
				}
			}
			type row struct {
				Keyspace string   `json:"keyspace"`
				Shard    string   `json:"shard"`
				Primary  string   `json:"primary"`
				Serves   []string `json:"serves"`
			}
			var rows []row
			for _, ks := range keyspaces {
				krec, err := ts.GetKeyspace(ctx, ks)
				if err != nil {
					return err
				}
				shards, err := ts.ListShards(ctx, ks)
				if err != nil {
					return err
				}
				for _, sh := range shards {
					rec, _, err := ts.GetShard(ctx, ks, sh)
					if err != nil {
						return err
					}
					p := ""
					if rec.PrimaryAlias != nil {
						p = topo.AliasString(rec.PrimaryAlias)
					}
					serves := []string{}
					for _, tt := range topo.ServedTypesOf(krec, sh) {
						serves = append(serves, topo.TabletTypeString(tt))
					}
					rows = append(rows, row{ks, sh, p, serves})
				}
			}
			if format == "json" {
				return writeJSON(cmd, rows)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KEYSPACE\tSHARD\tPRIMARY\tSERVES")
			for _, r := range rows {
				serves := strings.Join(r.Serves, ",")
				if serves == "" {
					serves = "nothing"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Keyspace, r.Shard, r.Primary, serves)
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&keyspace, "keyspace", "", "keyspace (default: all)")
	list.Flags().StringVar(&format, "format", "text", "text or json")
	cmd.AddCommand(list, newInitPrimaryCmd(a), newShardCreateCmd(a), newShardDeleteCmd(a))
	return cmd
}

func newTabletsCmd(a *app) *cobra.Command {
	var keyspace, format string
	cmd := &cobra.Command{
		Use:   "tablets",
		Short: "list tablets",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ts, err := a.topo()
			if err != nil {
				return err
			}
			all, err := ts.ListTablets(cmd.Context())
			if err != nil {
				return err
			}
			var tablets []*topodatapb.Tablet
			for _, t := range all {
				if keyspace == "" || t.Keyspace == keyspace {
					tablets = append(tablets, t)
				}
			}
			if format == "json" {
				out := make([]json.RawMessage, 0, len(tablets))
				for _, t := range tablets {
					b, err := topo.Marshal(t)
					if err != nil {
						return err
					}
					out = append(out, b)
				}
				return writeJSON(cmd, out)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ALIAS\tKEYSPACE\tSHARD\tTYPE\tHOST\tGRPC\tMYSQL")
			for _, t := range tablets {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\n", topo.AliasString(t.Alias), t.Keyspace, t.Shard,
					topo.TabletTypeString(t.Type), t.Hostname, t.GrpcPort, t.MysqlPort)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&keyspace, "keyspace", "", "only tablets of this keyspace")
	cmd.Flags().StringVar(&format, "format", "text", "text or json")
	return cmd
}

func writeJSON(cmd *cobra.Command, v any) error {
	enc := json.NewEncoder(cmd.OutOrStdout())
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
