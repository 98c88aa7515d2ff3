package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/privlink/privlink/internal/pki"
	"github.com/privlink/privlink/internal/store"
)

// pkiCmd is `privlink pki`: certificates for the machines of a region.
func pkiCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "pki", Short: "Certificates for the etcd members and machines of a region"}
	var dataDir, out string
	var hosts []string
	issue := &cobra.Command{
		Use:   "issue",
		Short: "Issue another etcd member's (or machine's) certificates from this machine's CA",
		Long: "Signs, with the CA in <data-dir>/pki (made by the first `privlink server`), a server certificate naming\n" +
			"--host (an etcd member's listeners) and a client certificate, and writes them with a copy of ca.crt to --out.\n" +
			"The CA key never leaves this machine. Copy --out to the member's <data-dir>/pki before its first start;\n" +
			"an agent-only machine needs ca.crt, client.crt and client.key (--etcd-cacert, --etcd-cert, --etcd-key).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dataDir == "" || out == "" {
				return errors.New("--data-dir and --out are required")
			}
			s, err := pki.Issue(store.PKIDir(dataDir), out, hosts)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "issued in %s: %s, %s/%s (server, hosts %v and loopback), %s/%s (client)\n",
				s.Dir, s.CACert, s.ServerCert, s.ServerKey, hosts, s.ClientCert, s.ClientKey)
			return nil
		},
	}
	f := issue.Flags()
	f.StringVar(&dataDir, "data-dir", "", "data dir of the server whose <data-dir>/pki holds the CA and its key")
	f.StringVar(&out, "out", "", "empty or new directory to write the set to")
	f.StringSliceVar(&hosts, "host", nil, "address or name the member's etcd listeners are reached at (repeatable)")
	cmd.AddCommand(issue)
	return cmd
}
