package cli

import (
	"encoding/json"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/privlink/privlink/internal/demo"
	"github.com/privlink/privlink/internal/server"
)

func demoCmd(g *globals) *cobra.Command {
	var keep bool
	var nodes int
	var network, logLevel string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Play the PrivateLink scenario end to end on this machine (root: real namespaces; else loopback)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signalContext()
			defer stop()
			var narration io.Writer = g.out
			if g.output == "json" {
				narration = os.Stderr
			}
			var sum *demo.Summary
			var err error
			if nodes > 1 {
				sum, err = demo.RunNodes(ctx, demo.NodesOptions{Out: narration, Nodes: nodes, Keep: keep})
			} else {
				sum, err = demo.Run(ctx, demo.Options{Out: narration, Keep: keep, Network: network, Logger: newLogger(logLevel),
					Configure: func(c *server.Config) { c.Console = ConsoleHandler }})
			}
			if err != nil {
				return err
			}
			if g.output == "json" {
				enc := json.NewEncoder(g.out)
				enc.SetIndent("", "  ")
				return enc.Encode(sum)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&keep, "keep", false, "leave everything running until Ctrl-C and print commands to try by hand")
	cmd.Flags().StringVar(&network, "network", "", "netns or loopback (default: netns as root, else loopback)")
	cmd.Flags().IntVar(&nodes, "nodes", 1, "simulate this many machines (4 or more; root): etcd+API on 3, agents on the rest, the scenario spread over them")
	cmd.Flags().StringVar(&logLevel, "log-level", "warn", "server log level")
	return cmd
}
