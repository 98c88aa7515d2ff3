package proxy

import (
	"math"
	"sync/atomic"
	"time"
)

// epoch is the origin of the buckets' clocks (monotonic).
var epoch = time.Now()

// nanos is t in nanoseconds since epoch, on the monotonic clock.
func nanos(t time.Time) int64 { return int64(t.Sub(epoch)) }

// bucket is a token bucket that any number of goroutines (every event loop)
// share without a lock: GCRA, the generic cell rate algorithm, on one
// atomic word holding the theoretical arrival time (tat) of the next token.
// Each token costs perToken nanoseconds of that clock; the bucket holds
// burst tokens, i.e. tat may run up to tau ahead of now. Taking is one
// load and one compare-and-swap. The zero bucket, and a bucket whose
// rate is 0, is unlimited.
type bucket struct {
	tat atomic.Int64
	p   atomic.Pointer[bucketParams]
}

type bucketParams struct {
	perToken float64 // nanoseconds per token
	tau      int64   // burst, in nanoseconds
	burst    float64 // tokens
}

// set changes rate (tokens per second; <= 0 = unlimited) and burst. Tokens
// already taken stay taken.
func (b *bucket) set(rate float64, burst int) {
	if rate <= 0 {
		b.p.Store(nil)
		return
	}
	burst = max(burst, 1)
	per := 1e9 / rate
	p := b.p.Load()
	if p != nil && p.perToken == per && p.burst == float64(burst) {
		return
	}
	b.p.Store(&bucketParams{perToken: per, tau: int64(per * float64(burst)), burst: float64(burst)})
}

// limited reports whether the bucket has a rate.
func (b *bucket) limited() bool { return b.p.Load() != nil }

func (p *bucketParams) cost(n int) int64 { return int64(math.Ceil(float64(n) * p.perToken)) }

// allow takes n tokens if the bucket has them now.
func (b *bucket) allow(now int64, n int) bool {
	p := b.p.Load()
	if p == nil {
		return true
	}
	c := p.cost(n)
	for {
		tat := b.tat.Load()
		next := max(tat, now) + c
		if next-now > p.tau {
			return false
		}
		if b.tat.CompareAndSwap(tat, next) {
			return true
		}
	}
}

// available is the number of tokens in the bucket now (unlimited: +Inf).
func (b *bucket) available(now int64) float64 {
	p := b.p.Load()
	if p == nil {
		return math.Inf(1)
	}
	return min(float64(now+p.tau-max(b.tat.Load(), now))/p.perToken, p.burst)
}

// take takes n tokens, going into debt if the bucket has fewer (the
// next takers wait for it), and returns how long the caller should wait
// for its tokens to have been earned.
func (b *bucket) take(now int64, n int) time.Duration {
	p := b.p.Load()
	if p == nil || n <= 0 {
		return 0
	}
	c := p.cost(n)
	for {
		tat := b.tat.Load()
		next := max(tat, now) + c
		if b.tat.CompareAndSwap(tat, next) {
			return time.Duration(max(next-p.tau-now, 0))
		}
	}
}

// when is the time (on the nanos clock) at which the bucket will hold n
// tokens, if nobody else takes any.
func (b *bucket) when(n int) int64 {
	p := b.p.Load()
	if p == nil {
		return 0
	}
	return b.tat.Load() - p.tau + p.costf(min(float64(n), p.burst))
}

// costf is cost for a float token count.
func (p *bucketParams) costf(n float64) int64 { return int64(math.Ceil(n * p.perToken)) }
