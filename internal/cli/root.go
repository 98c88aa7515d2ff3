// Package cli owns privlink's command line: the cobra command tree of
// DESIGN section 4, flag parsing, and table/JSON output. cmd/privlink only
// calls Execute.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/server"
)

type globals struct {
	server, token, output string
	cacert                string
	out                   io.Writer
}

// Execute runs the CLI with os.Args and returns the process exit code.
func Execute() int {
	cmd := NewRoot(os.Stdout)
	if err := cmd.Execute(); err != nil {
		var ce *api.Error
		var ue *client.UntrustedError
		if errors.As(err, &ce) {
			fmt.Fprintf(os.Stderr, "Error: %s: %s (requestId %s)\n", ce.Code, ce.Message, ce.RequestID)
		} else if errors.As(err, &ue) {
			fmt.Fprintf(os.Stderr, "Error: %v\nIf that is your server's certificate, pass --cacert FILE (or set PRIVLINK_CACERT) with it or its CA "+
				"(a server started with --tls-self-signed prints both the fingerprint and the file).\n", err)
		} else {
			fmt.Fprintf(os.Stderr, "Error: %v\n", err)
		}
		var ee exitError
		if errors.As(err, &ee) {
			return int(ee)
		}
		return 1
	}
	return 0
}

type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// NewRoot builds the command tree writing to out.
func NewRoot(out io.Writer) *cobra.Command {
	g := &globals{out: out}
	root := &cobra.Command{
		Use:           "privlink",
		Short:         "privlink: a self-hosted PrivateLink",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(out)
	root.PersistentFlags().StringVar(&g.server, "server", envOr("PRIVLINK_SERVER", "http://"+server.DefaultListen), "API server URL ($PRIVLINK_SERVER)")
	root.PersistentFlags().StringVar(&g.token, "token", "", "bearer token (default $PRIVLINK_TOKEN)")
	root.PersistentFlags().StringVar(&g.cacert, "cacert", "", "CA or self-signed certificate (PEM) that verifies an https:// server (default $PRIVLINK_CACERT; else the system's roots)")
	root.PersistentFlags().StringVarP(&g.output, "output", "o", "table", "output format: table or json")
	root.AddCommand(loadBalancerCmd(g))
	root.AddCommand(serverCmd(), agentCmd(), demoCmd(g),
		accountCmd(g), accessKeyCmd(g), regionCmd(g), vpcCmd(g), vswitchCmd(g), sgCmd(g), hostCmd(g), serviceCmd(g), endpointCmd(g), eventsCmd(g), notificationCmd(g),
		nodeCmd(g), pkiCmd())
	root.AddCommand(tagCmd(g))
	return root
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func (g *globals) client() (*client.Client, error) {
	if g.output != "table" && g.output != "json" {
		return nil, fmt.Errorf("-o must be table or json, not %q", g.output)
	}
	if g.token == "" {
		g.token = os.Getenv("PRIVLINK_TOKEN")
	}
	if g.token == "" {
		return nil, errors.New("no token: pass --token or set PRIVLINK_TOKEN (the admin token is in <data-dir>/admin.token)")
	}
	if g.cacert == "" {
		g.cacert = os.Getenv("PRIVLINK_CACERT")
	}
	return client.NewTLS(g.server, g.token, g.cacert)
}

func ctx(cmd *cobra.Command) context.Context { return cmd.Context() }
