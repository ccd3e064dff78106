package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/mosaicdb/mosaic/proto/vschemapb"
	"github.com/mosaicdb/mosaic/router"
	"github.com/mosaicdb/mosaic/topo"
)

func newVSchemaCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "vschema", Short: "apply and show a keyspace's VSchema"}
	var keyspace, file string
	var dryRun bool
	apply := &cobra.Command{
		Use:   "apply",
		Short: "validate and store a keyspace's VSchema from a JSON file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			vs, err := parseVSchema(data)
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			if err := router.ValidateKeyspaceVSchema(vs); err != nil {
				return fmt.Errorf("%s: invalid vschema: %w", file, err)
			}
			if dryRun {
				fmt.Fprintf(cmd.OutOrStdout(), "vschema for %s is valid (not stored: --dry-run)\n", keyspace)
				return nil
			}
			ts, err := a.topo()
			if err != nil {
				return err
			}
			if err := ts.SaveVSchema(cmd.Context(), keyspace, vs); err != nil {
				return fmt.Errorf("store vschema of %s: %w", keyspace, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "applied vschema to keyspace %s\n", keyspace)
			return nil
		},
	}
	apply.Flags().StringVar(&keyspace, "keyspace", "", "keyspace")
	apply.Flags().StringVar(&file, "file", "", "VSchema JSON file")
	apply.Flags().BoolVar(&dryRun, "dry-run", false, "only validate")
	apply.MarkFlagRequired("keyspace")
	apply.MarkFlagRequired("file")
	var getKeyspace string
	get := &cobra.Command{
		Use:   "get",
		Short: "print a keyspace's VSchema as JSON",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ts, err := a.topo()
			if err != nil {
				return err
			}
			vs, err := ts.GetVSchema(cmd.Context(), getKeyspace)
			if err != nil {
				return err
			}
			b, err := topo.Marshal(vs)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), string(b))
			return nil
		},
	}
	get.Flags().StringVar(&getKeyspace, "keyspace", "", "keyspace")
	get.MarkFlagRequired("keyspace")
	cmd.AddCommand(apply, get)
	return cmd
}

// parseVSchema reads VSchema JSON strictly: an unknown field is an error,
// so that a typo does not silently drop a vindex.
func parseVSchema(data []byte) (*vschemapb.Keyspace, error) {
	vs := &vschemapb.Keyspace{}
	if err := (protojson.UnmarshalOptions{}).Unmarshal(data, vs); err != nil {
		return nil, fmt.Errorf("bad vschema json: %w", err)
	}
	return vs, nil
}
