package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// probeMain answers requests "echo|connect ADDR TIMEOUT_MS" on stdin with
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
			d, err := probe(f[0] == "echo", f[1], time.Duration(ms)*time.Millisecond)
			if err != nil {
				fmt.Println("err", strings.ReplaceAll(err.Error(), "\n", " "))
				continue
			}
			fmt.Println("ok", d.Microseconds())
		}
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
