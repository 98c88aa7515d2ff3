//go:build linux

package agent

// PairID is the ID of the kernel NAT pair of (consumer VPC, provider VPC)
// on a machine (knat.Config.ID), for tests that leave one behind by hand.
func PairID(consumerVPC, providerVPC string) string {
	return pairID(pairKey{Consumer: consumerVPC, Provider: providerVPC})
}

// SetListenBatch makes startListeners cut batches of at most n listeners
// for the rest of the test (default listenBatch).
func SetListenBatch(t interface{ Cleanup(func()) }, n int) {
	prev := listenBatch
	listenBatch = n
	t.Cleanup(func() { listenBatch = prev })
}
