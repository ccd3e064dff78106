package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/topo"
)

func newKeyspaceCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "keyspace", Short: "create and list keyspaces"}
	var sharded bool
	var durability string
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "create a keyspace",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ts, err := a.topo()
			if err != nil {
				return err
			}
			if err := ts.CreateKeyspace(cmd.Context(), args[0], &topodatapb.Keyspace{Sharded: sharded, DurabilityPolicy: durability}); err != nil {
				return fmt.Errorf("create keyspace %s: %w", args[0], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created keyspace %s\n", args[0])
			return nil
		},
	}
	create.Flags().BoolVar(&sharded, "sharded", false, "the keyspace will be sharded (its VSchema decides routing)")
	create.Flags().StringVar(&durability, "durability-policy", "semi_sync", "semi_sync or none")
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
	cmd.AddCommand(create, list)
	return cmd
}

func newShardCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "shard", Short: "list shards, set a shard's first primary"}
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
				Keyspace string `json:"keyspace"`
				Shard    string `json:"shard"`
				Primary  string `json:"primary"`
				Serving  bool   `json:"serving"`
			}
			var rows []row
			for _, ks := range keyspaces {
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
					rows = append(rows, row{ks, sh, p, rec.IsPrimaryServing})
				}
			}
			if format == "json" {
				return writeJSON(cmd, rows)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KEYSPACE\tSHARD\tPRIMARY\tSERVING")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%v\n", r.Keyspace, r.Shard, r.Primary, r.Serving)
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&keyspace, "keyspace", "", "keyspace (default: all)")
	list.Flags().StringVar(&format, "format", "text", "text or json")
	cmd.AddCommand(list, newInitPrimaryCmd(a))
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
