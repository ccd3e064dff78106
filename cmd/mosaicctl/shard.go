package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/credentials"

	"github.com/mosaicdb/mosaic/keyrange"
	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/tablet/tmclient"
	"github.com/mosaicdb/mosaic/topo"
)

// splitShards parses --shards: comma-separated shard names.
func splitShards(s string) ([]string, error) {
	var out []string
	for _, sh := range strings.Split(s, ",") {
		if sh = strings.TrimSpace(sh); sh == "" {
			continue
		}
		if _, err := keyrange.Parse(sh); err != nil {
			return nil, err
		}
		out = append(out, sh)
	}
	if len(out) == 0 {
		return nil, errors.New("--shards: no shard names")
	}
	return out, nil
}

// newShardCreateCmd is `mosaicctl shard create`.
func newShardCreateCmd(a *app) *cobra.Command {
	var keyspace, shards string
	cmd := &cobra.Command{
		Use:   "create",
		Short: "create shards that serve nothing until traffic is switched to them",
		Long: `create writes new shard records. They serve no traffic: a reshard copies
data into them and switches traffic to them. Only a keyspace that serves
nothing yet takes its first shards as serving at once, when they cover the
key range exactly once. mosaic up starts tablets for new shards by itself;
elsewhere start them by hand (docs/resharding.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			names, err := splitShards(shards)
			if err != nil {
				return err
			}
			ts, err := a.topo()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if err := ts.CreateShards(ctx, keyspace, names); err != nil {
				return err
			}
			rec, err := ts.GetKeyspace(ctx, keyspace)
			if err != nil {
				return err
			}
			state := "serving nothing until traffic is switched to them"
			if len(topo.ServedTypesOf(rec, names[0])) > 0 {
				state = "serving: the keyspace's first shards"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created shards %s of %s, %s\n", strings.Join(names, ","), keyspace, state)
			return nil
		},
	}
	cmd.Flags().StringVar(&keyspace, "keyspace", "", "keyspace")
	cmd.Flags().StringVar(&shards, "shards", "", "shard names, comma-separated, e.g. -40,40-80,80-c0,c0-")
	cmd.MarkFlagRequired("keyspace")
	cmd.MarkFlagRequired("shards")
	return cmd
}

// newShardDeleteCmd is `mosaicctl shard delete`.
func newShardDeleteCmd(a *app) *cobra.Command {
	var keyspace, shards string
	cmd := &cobra.Command{
		Use:   "delete",
		Short: "delete shards that serve no traffic",
		Long: `delete removes shard records. A shard that serves any tablet type is
refused: switch its traffic away first. mosaic up stops the tablets of
deleted shards and removes their records; tablets run by hand must be
stopped by hand (then: mosaicctl tablet delete ALIAS).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			names, err := splitShards(shards)
			if err != nil {
				return err
			}
			ts, err := a.topo()
			if err != nil {
				return err
			}
			for _, sh := range names {
				if err := ts.DeleteShard(cmd.Context(), keyspace, sh); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deleted shard %s/%s\n", keyspace, sh)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&keyspace, "keyspace", "", "keyspace")
	cmd.Flags().StringVar(&shards, "shards", "", "shard names, comma-separated")
	cmd.MarkFlagRequired("keyspace")
	cmd.MarkFlagRequired("shards")
	return cmd
}

// newTabletDeleteCmd is `mosaicctl tablet delete`.
func newTabletDeleteCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "delete ALIAS",
		Short: "remove the record of a tablet that no longer runs",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ts, err := a.topo()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			alias, err := topo.ParseAlias(args[0])
			if err != nil {
				return err
			}
			t, err := ts.GetTablet(ctx, alias)
			if err != nil {
				return err
			}
			if sh, _, err := ts.GetShard(ctx, t.Keyspace, t.Shard); err == nil && topo.AliasString(sh.PrimaryAlias) == args[0] {
				return fmt.Errorf("tablet %s is the primary of %s/%s: reparent first", args[0], t.Keyspace, t.Shard)
			}
			creds, err := a.tabletCreds()
			if err != nil {
				return err
			}
			if answers(ctx, t, creds) {
				return fmt.Errorf("tablet %s answers at %s:%d: stop it first", args[0], t.Hostname, t.GrpcPort)
			}
			if err := ts.DeleteTablet(ctx, alias); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted the record of tablet %s\n", args[0])
			return nil
		},
	}
}

// answers reports whether a tablet answers Ping within two seconds.
func answers(ctx context.Context, t *topodatapb.Tablet, creds credentials.TransportCredentials) bool {
	c, err := tmclient.DialTablet(t, creds)
	if err != nil {
		return false
	}
	defer c.Close()
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = c.TM.Ping(pctx, &tabletmanagerpb.PingRequest{})
	return err == nil
}

// newKeyspaceShowCmd is `mosaicctl keyspace show`.
func newKeyspaceShowCmd(a *app) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "show a keyspace: which shards serve each tablet type, a switch under way, every shard",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ts, err := a.topo()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			name := args[0]
			rec, v, err := ts.GetKeyspaceVersion(ctx, name)
			if err != nil {
				return err
			}
			shards, err := ts.ListShards(ctx, name)
			if err != nil {
				return err
			}
			type shardRow struct {
				Shard   string   `json:"shard"`
				Primary string   `json:"primary"`
				Serves  []string `json:"serves"`
				Fenced  bool     `json:"primary_query_service_disabled"`
			}
			type served struct {
				TabletType string   `json:"tablet_type"`
				Shards     []string `json:"shards"`
			}
			out := struct {
				Keyspace  string                    `json:"keyspace"`
				Version   int64                     `json:"version"`
				Sharded   bool                      `json:"sharded"`
				Served    []served                  `json:"served"`
				Switching *topodatapb.TrafficSwitch `json:"switching,omitempty"`
				Shards    []shardRow                `json:"shards"`
				Cells     map[string]string         `json:"cells"`
			}{Keyspace: name, Version: int64(v), Sharded: rec.Sharded, Switching: rec.Switching, Cells: map[string]string{}}
			for _, tt := range topo.ServedTypes() {
				out.Served = append(out.Served, served{TabletType: topo.TabletTypeString(tt), Shards: topo.ServedShards(rec, tt)})
			}
			for _, sh := range shards {
				r, _, err := ts.GetShard(ctx, name, sh)
				if err != nil {
					return err
				}
				row := shardRow{Shard: sh, Fenced: topo.QueryServiceDisabled(r, topodatapb.TabletType_PRIMARY)}
				if r.PrimaryAlias != nil {
					row.Primary = topo.AliasString(r.PrimaryAlias)
				}
				for _, tt := range topo.ServedTypesOf(rec, sh) {
					row.Serves = append(row.Serves, topo.TabletTypeString(tt))
				}
				out.Shards = append(out.Shards, row)
			}
			cells, err := servingCells(ctx, ts, name)
			if err != nil {
				return err
			}
			want := topo.BuildSrvKeyspace(rec)
			for _, cell := range cells {
				srv, err := ts.GetSrvKeyspace(ctx, cell, name)
				switch {
				case err != nil:
					out.Cells[cell] = "error: " + err.Error()
				case topo.ValidateSrvKeyspace(srv) != nil:
					out.Cells[cell] = "invalid (gates refuse it): " + topo.ValidateSrvKeyspace(srv).Error()
				case !sameGraph(srv, want):
					out.Cells[cell] = "differs from the keyspace record (mosaicctl keyspace rebuild-serving)"
				default:
					out.Cells[cell] = "in step"
				}
			}
			if format == "json" {
				return writeJSON(cmd, out)
			}
			w := cmd.OutOrStdout()
			kind := "unsharded"
			if rec.Sharded {
				kind = "sharded"
			}
			fmt.Fprintf(w, "keyspace %s (%s, record version %d)\n\n", name, kind, v)
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TABLET TYPE\tSERVED BY")
			for _, s := range out.Served {
				fmt.Fprintf(tw, "%s\t%s\n", s.TabletType, keyrange.Names(s.Shards))
			}
			tw.Flush()
			if sw := rec.Switching; sw != nil {
				var types []string
				for _, tt := range sw.TabletTypes {
					types = append(types, topo.TabletTypeString(tt))
				}
				since := ""
				if sw.StartedUnixNano != 0 {
					since = " since " + time.Unix(0, sw.StartedUnixNano).Format(time.RFC3339)
				}
				fmt.Fprintf(w, "\nswitching %s traffic%s (%s): gates buffer its statements\n", strings.Join(types, ","), since, sw.Reason)
			}
			fmt.Fprintln(w)
			tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SHARD\tPRIMARY\tSERVES\tPRIMARY QUERY SERVICE")
			for _, r := range out.Shards {
				serves := strings.Join(r.Serves, ",")
				if serves == "" {
					serves = "nothing"
				}
				qs := "enabled"
				if r.Fenced {
					qs = "disabled (fenced)"
				}
				p := r.Primary
				if p == "" {
					p = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Shard, p, serves, qs)
			}
			tw.Flush()
			if len(cells) > 0 {
				fmt.Fprintln(w)
				for _, cell := range cells {
					fmt.Fprintf(w, "serving graph in %s: %s\n", cell, out.Cells[cell])
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "text or json")
	return cmd
}

// servingCells returns the cells that have a serving graph of ks.
func servingCells(ctx context.Context, ts *topo.Server, ks string) ([]string, error) {
	kvs, err := ts.Store().List(ctx, "cells/")
	if err != nil {
		return nil, err
	}
	var cells []string
	for _, kv := range kvs {
		parts := strings.Split(kv.Key, "/")
		if len(parts) == 4 && parts[2] == "serving" && parts[3] == ks {
			cells = append(cells, parts[1])
		}
	}
	return cells, nil
}

// sameGraph reports whether two serving graphs route the same.
func sameGraph(a, b *topodatapb.SrvKeyspace) bool {
	for _, tt := range topo.ServedTypes() {
		x, _ := topo.SrvShards(a, tt)
		y, _ := topo.SrvShards(b, tt)
		if strings.Join(x, ",") != strings.Join(y, ",") {
			return false
		}
	}
	var xs, ys []string
	for _, tt := range a.GetSwitching().GetTabletTypes() {
		xs = append(xs, tt.String())
	}
	for _, tt := range b.GetSwitching().GetTabletTypes() {
		ys = append(ys, tt.String())
	}
	return strings.Join(xs, ",") == strings.Join(ys, ",")
}
