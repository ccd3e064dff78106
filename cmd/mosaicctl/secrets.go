package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mosaicdb/mosaic/tablet/mysqlctl"
)

// newSecretsCmd is `mosaicctl secrets`: the cluster's shared passwords.
func newSecretsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secrets",
		Short: "the passwords the tablets of a cluster share",
	}
	var file string
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "write a new secrets file with random passwords",
		Long: `init writes a new secrets file (mode 0600) for mosaic tablet --secrets-file:
random passwords for the replication account (replicas log in to their primary
with it), a DBA account and a monitoring account that reach each tablet's mysqld
over TCP. Every tablet of the cluster reads the same file: copy it to each host,
or store it as a Kubernetes Secret (docs/security.md). It refuses to overwrite a
file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return fmt.Errorf("--file is required")
			}
			if err := mysqlctl.WriteSecretsFile(file, mysqlctl.GenerateSecrets()); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s\n", file)
			return nil
		},
	}
	initCmd.Flags().StringVar(&file, "file", "", "secrets file to write (required)")
	cmd.AddCommand(initCmd)
	return cmd
}
