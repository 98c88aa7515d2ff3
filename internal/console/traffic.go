package console

import (
	"bytes"
	"context"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/traffic"
)

// liveEvents is how many of a resource's latest events a page shows.
const liveEvents = 20

// LivePoll is how often the pages' script reloads the live section.
const livePollSeconds = 5

// liveData is the live section of an endpoint or service page: traffic
// charts, per-zone or per-endpoint traffic, backend health and events.
type liveData struct {
	URL       string // the fragment, for polling
	Window    string // hour or day
	Other     string // the other window's page URL
	Charts    []chart
	Updated   string
	Zones     []trafficRow // endpoint page: one per zone
	Endpoints []trafficRow // service page: one per endpoint
	Truncated bool
	Backends  []backendRow
	Events    []api.Event // newest first
	Err       string
	Poll      int
}

// trafficRow sums one zone's or one endpoint's window.
type trafficRow struct {
	ID, Account, Status string
	Active              int64 // in the last interval
	NewConns            int64
	BytesIn, BytesOut   string
	Rejected            int64
}

type chart struct {
	Title string
	SVG   template.HTML
}

type backendRow struct {
	ZoneID, Backend, Health, Latency, Checked, Error string
}

func window(r *http.Request) string {
	if r.URL.Query().Get("window") == "day" {
		return "day"
	}
	return "hour"
}

// endpointLive builds an endpoint page's live section.
func (c *Console) endpointLive(ctx context.Context, cl *client.Client, id, win string) liveData {
	d := liveData{URL: "/console/endpoints/" + id + "/live?window=" + win, Window: win, Poll: livePollSeconds}
	d.Other = otherWindow("/console/endpoints/"+id, win)
	tr, err := cl.EndpointTraffic(ctx, id)
	if err != nil {
		d.Err = err.Error()
		return d
	}
	series := pick(win, tr.Hour, tr.Day)
	d.Charts = charts("ep-"+win, series)
	d.Updated = tr.UpdateTime
	for _, z := range tr.Zones {
		d.Zones = append(d.Zones, row(z.ZoneID, "", "", pick(win, z.Hour, z.Day)))
		for _, b := range z.Backends {
			d.Backends = append(d.Backends, backend(b))
		}
	}
	d.Events, d.Err = c.events(ctx, cl, id)
	return d
}

// serviceLive builds a service page's live section (the provider's).
func (c *Console) serviceLive(ctx context.Context, cl *client.Client, id, win string) liveData {
	d := liveData{URL: "/console/services/" + id + "/live?window=" + win, Window: win, Poll: livePollSeconds}
	d.Other = otherWindow("/console/services/"+id, win)
	tr, err := cl.ServiceTraffic(ctx, id)
	if err != nil {
		d.Err = err.Error()
		return d
	}
	d.Charts = charts("svc-"+win, pick(win, tr.Hour, tr.Day))
	d.Truncated = tr.Truncated
	for _, e := range tr.Endpoints {
		d.Endpoints = append(d.Endpoints, row(e.EndpointID, e.AccountID, e.ConnectionStatus, pick(win, e.Hour, e.Day)))
		d.Updated = max(d.Updated, e.UpdateTime)
	}
	for _, b := range tr.Backends {
		d.Backends = append(d.Backends, backend(b))
	}
	d.Events, d.Err = c.events(ctx, cl, id)
	return d
}

// events are a resource's latest events, newest first.
func (c *Console) events(ctx context.Context, cl *client.Client, id string) ([]api.Event, string) {
	evs, err := cl.ListEvents(ctx, client.EventFilter{ResourceID: id})
	if err != nil {
		return nil, "events: " + err.Error()
	}
	if len(evs) > liveEvents {
		evs = evs[len(evs)-liveEvents:]
	}
	slices.Reverse(evs)
	return evs, ""
}

func pick(win string, hour, day model.TrafficSeries) model.TrafficSeries {
	if win == "day" {
		return day
	}
	return hour
}

func otherWindow(page, win string) string {
	if win == "day" {
		return page
	}
	return page + "?window=day"
}

// charts draws the four charts of a window: active connections, new
// connections per second, bytes per second each way, rejected connections
// by reason.
func charts(prefix string, s model.TrafficSeries) []chart {
	start, _ := time.Parse(time.RFC3339, s.Start)
	step := time.Duration(s.StepSeconds) * time.Second
	per := func(v []int64, scale float64) []float64 {
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = float64(x) / scale
		}
		return out
	}
	secs := float64(max(s.StepSeconds, 1))
	mk := func(id, title string, unit func(float64) string, lines ...line) chart {
		return chart{Title: title, SVG: svgChart(prefix+"-"+id, title, start, step, unit, lines...)}
	}
	return []chart{
		mk("active", "Active connections", count,
			line{"active connections", "#1f6feb", per(s.ActiveConnections, 1)}),
		mk("new", "New connections per second", count,
			line{"new connections/s", "#2da44e", per(s.NewConnections, secs)}),
		mk("bytes", "Bytes per second", byteRate,
			line{"in (to the service)", "#8250df", per(s.BytesIn, secs)},
			line{"out (to the consumer)", "#bf8700", per(s.BytesOut, secs)}),
		mk("rejected", "Rejected connections per interval", count,
			line{"security group", "#cf222e", per(s.RejectedSecurityGroup, 1)},
			line{"limits", "#fb8500", per(s.RejectedLimit, 1)},
			line{"revoked", "#6e7781", per(s.RejectedRevoked, 1)}),
	}
}

func row(id, account, status string, s model.TrafficSeries) trafficRow {
	r := trafficRow{ID: id, Account: account, Status: status,
		NewConns: traffic.Total(s.NewConnections),
		BytesIn:  byteCount(traffic.Total(s.BytesIn)), BytesOut: byteCount(traffic.Total(s.BytesOut)),
		Rejected: traffic.Total(s.RejectedSecurityGroup) + traffic.Total(s.RejectedLimit) + traffic.Total(s.RejectedRevoked)}
	if n := len(s.ActiveConnections); n > 0 {
		r.Active = s.ActiveConnections[n-1]
	}
	return r
}

func backend(b api.BackendCheck) backendRow {
	r := backendRow{ZoneID: b.ZoneID, Backend: b.Backend, Error: b.Error, Health: "Not checked", Latency: "–", Checked: "–"}
	if b.CheckTime == "" {
		r.Error = "no endpoint is served in this zone, so no agent checks it"
		return r
	}
	r.Health = "Unhealthy"
	if b.Healthy {
		r.Health = "Healthy"
	}
	r.Latency = strconv.FormatFloat(b.LatencyMs, 'f', 2, 64) + " ms"
	if t, err := time.Parse(time.RFC3339Nano, b.CheckTime); err == nil {
		r.Checked = time.Since(t).Round(time.Second).String() + " ago"
	}
	return r
}

// endpointLiveFragment serves the live section alone, for polling.
func (c *Console) endpointLiveFragment(w http.ResponseWriter, r *http.Request, s *session) {
	c.fragment(w, c.endpointLive(r.Context(), c.api(s), r.PathValue("id"), window(r)))
}

func (c *Console) serviceLiveFragment(w http.ResponseWriter, r *http.Request, s *session) {
	c.fragment(w, c.serviceLive(r.Context(), c.api(s), r.PathValue("id"), window(r)))
}

func (c *Console) fragment(w http.ResponseWriter, d liveData) {
	var buf bytes.Buffer
	if err := c.pages["endpoint"].ExecuteTemplate(&buf, "live", d); err != nil {
		c.log.Error("render live section", "err", err)
		http.Error(w, "console: the live section could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}
