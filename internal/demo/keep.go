package demo

import "os"

// printKeep tells the user how to poke at the running scenario by hand.
func (r *run) printKeep() {
	url := r.srv.URL()
	prefix := r.srv.Config().NetnsPrefix
	pl := "privlink"
	if exe, err := os.Executable(); err == nil {
		pl = exe
	}
	r.say("\n== Everything is still running (--keep). Try it by hand in another terminal:")
	r.say("  export PRIVLINK_SERVER=%s", url)
	r.say("  export PRIVLINK_TOKEN=%s    # the customer's token", r.sc.Consumer.Token())
	r.say("  %s endpoint get %s", pl, r.sum.EndpointID)
	r.say("  %s host exec %s -- dig +short %s", pl, r.host.HostID, r.sum.EndpointDomain)
	r.say("  %s host exec %s -- mysql -h %s -P %d -u %s -p    # password: %s", pl, r.host.HostID, r.sum.EndpointDomain, dbPort, dbUser, dbPassword)
	if r.srv.Driver.Name == "netns" {
		r.say("  ip netns exec %s-%s bash    # a shell on the customer's ECS host", prefix, r.host.HostID)
	}
	r.say("  vendor token: %s", r.sc.Provider.Token())
	if r.sum.ConsoleURL != "" {
		r.say("  console: %s (log in with either token)", r.sum.ConsoleURL)
	}
	r.say("  metrics: %s/metrics", r.srv.MetricsURL())
	r.say("Press Ctrl-C to stop; everything is cleaned up.")
}
