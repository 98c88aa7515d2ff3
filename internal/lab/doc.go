// Package lab simulates a region of several machines on one Linux machine
// (docs/design/multinode.md §7): a lab namespace "<p>-lab" holding the
// underlay bridge ul0, and one node namespace "<p>-n<i>" per simulated
// machine whose veth "ul" (10.255.0.<i>/24) is plugged into ul0. Node
// processes (privlink server, privlink agent, test helpers) are started
// inside a node namespace without a new mount namespace, so the named
// namespaces they create under /run/netns are visible to the test, the
// demo and the cleanup. Each node's agent gets its own namespace prefix
// "<p>n<i>", because /run/netns and /etc/netns are machine-wide.
//
// Faults: [Proc.Kill] (SIGKILL by PID), [Proc.Restart], [Lab.Cut] and
// [Lab.Heal] (the lab-side veth down/up: the node loses the underlay, like
// a pulled cable). [Node.DialContext] and [Node.Client] reach the node's
// services from a socket made inside the node namespace, so no traffic
// leaves namespaces the lab created. [Lab.Close] kills what the lab
// started (by PID), removes every namespace and /etc/netns entry whose name
// starts with the lab's prefix, and [SweepStale] does the same for labs
// whose owning process died.
//
// The package is a test and demo helper; no production code depends on it.
// It needs root and Linux. See README.md in this directory.
package lab
