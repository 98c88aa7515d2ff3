package testenv

import (
	"sync"
	"sync/atomic"
)

// Hammer calls try from n goroutines, again and again, until Stop: a
// client load kept up across a change (a handoff, a restart). It counts
// the calls that succeeded and failed and keeps the first error.
type Hammer struct {
	OK, Failed atomic.Int64
	first      atomic.Pointer[error]
	stop       chan struct{}
	wg         sync.WaitGroup
}

// StartHammer starts n goroutines calling try.
func StartHammer(n int, try func() error) *Hammer {
	h := &Hammer{stop: make(chan struct{})}
	for range n {
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			for {
				select {
				case <-h.stop:
					return
				default:
				}
				if err := try(); err != nil {
					h.Failed.Add(1)
					h.first.CompareAndSwap(nil, &err)
				} else {
					h.OK.Add(1)
				}
			}
		}()
	}
	return h
}

// Stop ends the load and waits for the goroutines; it returns the first
// error (nil if every call succeeded).
func (h *Hammer) Stop() error {
	close(h.stop)
	h.wg.Wait()
	if err := h.first.Load(); err != nil {
		return *err
	}
	return nil
}
