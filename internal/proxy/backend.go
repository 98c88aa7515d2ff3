package proxy

import "net/netip"

// candidates fills out with up to len(out) backends to try, in order, and
// returns how many it filled. Order: healthy primary backends (round-robin
// from rr), then healthy secondary backends; if no backend at all is healthy
// the health view is assumed stale and every backend is a candidate (panic
// mode), primary first. It does not allocate.
func (st *state) candidates(h *Health, rr uint64, out *[MaxDialAttempts]netip.AddrPort) int {
	n := collect(st.primary, h, true, rr, out[:], 0)
	n = collect(st.secondary, h, true, rr, out[:], n)
	if n == 0 {
		n = collect(st.primary, h, false, rr, out[:], 0)
		n = collect(st.secondary, h, false, rr, out[:], n)
	}
	return n
}

// collect appends to out[n:] backends from list starting at index rr mod
// len(list), skipping unhealthy ones when onlyHealthy is set.
func collect(list []netip.AddrPort, h *Health, onlyHealthy bool, rr uint64, out []netip.AddrPort, n int) int {
	l := uint64(len(list))
	if l == 0 {
		return n
	}
	start := rr % l
	for i := uint64(0); i < l && n < len(out); i++ {
		a := list[(start+i)%l]
		if onlyHealthy && !h.Healthy(a) {
			continue
		}
		out[n] = a
		n++
	}
	return n
}
