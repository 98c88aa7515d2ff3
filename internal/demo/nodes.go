package demo

import "io"

// NodesOptions configure a run on a lab of several simulated machines.
type NodesOptions struct {
	Out   io.Writer // narration
	Nodes int       // simulated machines, 4 or more
	Keep  bool      // leave everything running until ctx ends
	// Bin is the privlink binary the machines run; default this
	// executable. privlink-sampledb is looked for next to it.
	Bin string
}

// NodeRow is one machine of the "where each piece lives" table.
type NodeRow struct {
	Name     string   `json:"name"`
	Zone     string   `json:"zone"`
	Underlay string   `json:"underlay"`
	Status   string   `json:"status"`
	Runs     string   `json:"runs"`   // etcd member + API server, or agent
	Hosts    int      `json:"hosts"`  // GET /v1/nodes
	ENIs     int      `json:"enis"`   // GET /v1/nodes
	Pieces   []string `json:"pieces"` // the scenario's hosts and endpoint IPs on it
}
