package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
)

var eventCols = []col{{"EVENT ID", "eventId"}, {"TIME", "eventTime"}, {"TYPE", "eventType"}, {"SERVICE", "serviceId"},
	{"ENDPOINT", "endpointId"}, {"ZONE", "zoneId"}, {"BACKEND", "backend"}, {"MESSAGE", "message"}}

func eventsCmd(g *globals) *cobra.Command {
	var f client.EventFilter
	var follow bool
	cmd := &cobra.Command{Use: "events", Short: "List the events concerning your services and endpoints (--follow: stream them)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !follow {
				return g.run(cmd, eventCols, func(ctx context.Context, c *client.Client) (any, error) {
					evs, err := c.ListEvents(ctx, f)
					return api.List[api.Event]{Items: evs, TotalCount: len(evs)}, err
				})
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			err = c.FollowEvents(ctx(cmd), f, func(e api.Event) error { return g.printEvent(e) })
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		}}
	fl := cmd.Flags()
	fl.BoolVarP(&follow, "follow", "f", false, "stream events as they happen (reconnects, resuming after the last one)")
	fl.StringVar(&f.Type, "type", "", "only events of this type")
	fl.StringVar(&f.ResourceID, "resource", "", "only events naming this service, endpoint, zone, backend or notification ID")
	fl.StringVar(&f.Since, "since", "", "only events after this event ID")
	return cmd
}

// printEvent writes one streamed event: a JSON line, or a table row.
func (g *globals) printEvent(e api.Event) error {
	if g.output == "json" {
		b, _ := json.Marshal(e)
		_, err := fmt.Fprintln(g.out, string(b))
		return err
	}
	row := []string{e.EventID, e.EventTime, e.EventType}
	for _, s := range []string{e.ServiceID, e.EndpointID, e.ZoneID, e.Backend, e.Message} {
		if s != "" {
			row = append(row, s)
		}
	}
	_, err := fmt.Fprintln(g.out, strings.Join(row, "  "))
	return err
}
