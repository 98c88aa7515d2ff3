package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

func demoCmd(g *globals) *cobra.Command {
	return &cobra.Command{Use: "demo", Short: "Play the PrivateLink scenario end to end on this machine", RunE: func(cmd *cobra.Command, args []string) error {
		return errors.New("demo: not yet available")
	}}
}
