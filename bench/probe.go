package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// probeMain answers requests "echo|connect ADDR TIMEOUT_MS" (or "echoall
// FILE TIMEOUT_MS", see probeAll) on stdin with
// "ok MICROS" or "err MESSAGE": the time until the first connection to
// ADDR succeeded (echo: and carried a 64 B round trip). It starts a new
// attempt every 5 ms (at most 64 in flight, 250 ms connect timeout each),
// so a listener that appears is found within about 5 ms.
func probeMain(args []string) error {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	maxLife := fs.Duration("max-life", time.Hour, "exit after this long in any case")
	if err := fs.Parse(args); err != nil {
		return err
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	life := time.After(*maxLife)
	for {
		select {
		case <-life:
			return nil
		case line, ok := <-lines:
			if !ok {
				return nil
			}
			f := strings.Fields(line)
			if len(f) != 3 {
				fmt.Println("err bad request")
				continue
			}
			ms, _ := strconv.Atoi(f[2])
			timeout := time.Duration(ms) * time.Millisecond
			var d time.Duration
			var err error
			extra := ""
			if f[0] == "echoall" {
				var firsts []time.Duration
				var maxWait time.Duration
				refusals.Store(0)
				if d, firsts, maxWait, err = probeAll(f[1], timeout); err == nil {
					extra = fmt.Sprintf("%s refused=%d maxwait=%dus", spread(firsts), refusals.Load(), maxWait.Microseconds())
				}
			} else {
				d, err = probe(f[0] == "echo", f[1], timeout)
			}
			if err != nil {
				fmt.Println("err", strings.ReplaceAll(err.Error(), "\n", " "))
				continue
			}
			if extra != "" {
				extra = " " + extra
			}
			fmt.Printf("ok %d%s\n", d.Microseconds(), extra)
		}
	}
}

// refusals counts the attempts a client would have seen refused or reset
// (not the ones timed out or cancelled because another attempt won).
var refusals atomic.Int64

func countRefusal(err error) {
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		refusals.Add(1)
	}
}

func probe(echo bool, addr string, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	won := make(chan struct{}, 1)
	var lastErr atomic.Value
	var wg sync.WaitGroup
	inflight := make(chan struct{}, 64)
	attempt := func() {
		defer wg.Done()
		defer func() { <-inflight }()
		actx, acancel := context.WithTimeout(ctx, 250*time.Millisecond)
		defer acancel()
		c, err := dialer.DialContext(actx, "tcp4", addr)
		if err != nil {
			countRefusal(err)
			lastErr.Store(err.Error())
			return
		}
		defer c.Close()
		if echo {
			buf := make([]byte, msgSize)
			_ = c.SetDeadline(time.Now().Add(2 * time.Second))
			if _, err = c.Write(buf); err == nil {
				_, err = io.ReadFull(c, buf)
			}
			if err != nil {
				countRefusal(err)
				lastErr.Store(err.Error())
				return
			}
		}
		select {
		case won <- struct{}{}:
		default:
		}
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	defer wg.Wait()
	defer cancel()
	for {
		select {
		case inflight <- struct{}{}:
			wg.Add(1)
			go attempt()
		default:
		}
		select {
		case <-won:
			return time.Since(start), nil
		case <-ctx.Done():
			msg, _ := lastErr.Load().(string)
			return 0, fmt.Errorf("no connection to %s within %v (last: %s)", addr, timeout, msg)
		case <-tick.C:
		}
	}
}

// probeAll probes every ADDR:PORT listed in file (one a line), 16 at a
// time, each as probe(echo) does, and returns the time until the last one
// carried its round trip, when each had, and the longest any one took
// from its first attempt; the first that does not within timeout fails
// the whole.
func probeAll(file string, timeout time.Duration) (time.Duration, []time.Duration, time.Duration, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, nil, 0, err
	}
	addrs := strings.Fields(string(b))
	firsts := make([]time.Duration, len(addrs)) // when each address first carried a round trip
	start := time.Now()
	var next, maxWait atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range min(16, len(addrs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < len(addrs) && firstErr.Load() == nil; i = int(next.Add(1) - 1) {
				left := timeout - time.Since(start)
				d, err := probe(true, addrs[i], max(left, time.Millisecond))
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
				}
				for w := maxWait.Load(); int64(d) > w && !maxWait.CompareAndSwap(w, int64(d)); w = maxWait.Load() {
				}
				firsts[i] = time.Since(start)
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, nil, 0, fmt.Errorf("%d addresses: %w", len(addrs), err)
	}
	return time.Since(start), firsts, time.Duration(maxWait.Load()), nil
}

// spread names when the addresses of a sweep had served: the times by
// which 10%, 50%, 90% and 99% of them had (the last one is the sweep's).
func spread(firsts []time.Duration) string {
	s := slices.Clone(firsts)
	slices.Sort(s)
	var b strings.Builder
	for _, q := range []float64{0.1, 0.5, 0.9, 0.99} {
		if len(s) > 0 {
			fmt.Fprintf(&b, "p%g=%.2fs ", q*100, s[int(q*float64(len(s)-1))].Seconds())
		}
	}
	return strings.TrimSpace(b.String())
}
