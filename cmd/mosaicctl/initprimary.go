package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newInitPrimaryCmd is filled in once the tablet manager client lands.
func newInitPrimaryCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "init-primary",
		Short: "make a tablet the first primary of a new shard",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("not built yet")
		},
	}
}
