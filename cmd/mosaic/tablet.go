package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newTabletCmd is written by the tablet work; this placeholder keeps the
// binary building until it lands.
func newTabletCmd(lf *logFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "tablet",
		Short: "run a tablet: one mysqld and its agent",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("not built yet")
		},
	}
}
