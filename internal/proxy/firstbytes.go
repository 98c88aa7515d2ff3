package proxy

import "sync/atomic"

// firstBytes learns, per Listener, whether the consumer's first bytes are
// usually there when its connection is accepted (client-speaks-first
// protocols under load) or not (server-speaks-first protocols, or a client
// slower than the accept): the engine reads the consumer socket before it
// dials only while that read finds data often enough to pay for the reads
// that return EAGAIN. Updated by every loop with plain atomics.
type firstBytes struct {
	tries, hits, skips atomic.Int32
}

const (
	firstBytesLearn  = 64   // tries before the hit rate is trusted
	firstBytesWindow = 1024 // counts are halved beyond this (recent behaviour wins)
	firstBytesProbe  = 32   // at a low hit rate, still try one connection in this many
)

// want reports whether to read before dialling: always while learning,
// then at a hit rate of at least 1 in 4, else every firstBytesProbe-th
// connection (so that a change of the traffic is noticed).
func (fb *firstBytes) want() bool {
	t, h := fb.tries.Load(), fb.hits.Load()
	if t < firstBytesLearn || 4*h >= t {
		return true
	}
	return fb.skips.Add(1)%firstBytesProbe == 0
}

// record counts one read before a dial and whether it found data.
func (fb *firstBytes) record(hit bool) {
	if hit {
		fb.hits.Add(1)
	}
	if fb.tries.Add(1) >= firstBytesWindow {
		fb.tries.Store(firstBytesWindow / 2)
		fb.hits.Store(fb.hits.Load() / 2)
	}
}
