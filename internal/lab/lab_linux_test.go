//go:build linux

package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/nsfs"
	"github.com/vishvananda/netlink"
)

// The test binary doubles as the node processes' program: with LAB_HELPER
// set, TestMain runs a small helper instead of the tests, so nothing outside
// the repository is needed.
//
//	echo  ADDR        TCP echo server on ADDR; prints "ready"
//	probe ADDR        dials ADDR (2 s), sends a line, exits 0 iff echoed
//	mkns  NAME        creates the named namespace NAME and /etc/netns/NAME
//	                  (as an agent does for a VPC copy), prints "ready", sleeps
func TestMain(m *testing.M) {
	if h := os.Getenv("LAB_HELPER"); h != "" {
		os.Exit(helper(h, os.Getenv("LAB_ARG")))
	}
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func helper(kind, arg string) int {
	switch kind {
	case "echo":
		ln, err := net.Listen("tcp", arg)
		if err != nil {
			fmt.Println("listen:", err)
			return 2
		}
		fmt.Println("ready")
		for {
			c, err := ln.Accept()
			if err != nil {
				return 2
			}
			go func() { defer c.Close(); io.Copy(c, c) }() //nolint:errcheck
		}
	case "probe":
		c, err := net.DialTimeout("tcp", arg, 2*time.Second)
		if err != nil {
			fmt.Println("dial:", err)
			return 1
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second)) //nolint:errcheck
		fmt.Fprintln(c, "ping")
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || line != "ping\n" {
			fmt.Println("echo:", line, err)
			return 1
		}
		fmt.Println("ok")
		return 0
	case "mkns":
		ns, err := CreateNamed(arg)
		if err != nil {
			fmt.Println(err)
			return 2
		}
		ns.Close()
		if err := os.MkdirAll(filepath.Join(nsfs.EtcDir, arg), 0o755); err != nil {
			fmt.Println(err)
			return 2
		}
		fmt.Println("ready")
		time.Sleep(time.Hour)
		return 0
	}
	fmt.Println("unknown helper", kind)
	return 2
}

// startHelper runs the test binary as helper kind on node n and waits for
// "ready" (unless the helper is expected to exit by itself).
func startHelper(t *testing.T, n *Node, kind, arg string) *Proc {
	t.Helper()
	p, err := n.Start(kind, []string{os.Args[0]}, "LAB_HELPER="+kind, "LAB_ARG="+arg)
	if err != nil {
		t.Fatal(err)
	}
	if kind == "probe" {
		return p
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(p.Output(), "ready") {
		if !p.Running() || time.Now().After(deadline) {
			t.Fatalf("helper %s on %s not ready: %q", kind, n.Name, p.Output())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return p
}

// probe runs a probe helper on node from towards addr and reports whether
// the echo came back.
func probe(t *testing.T, from *Node, addr string) bool {
	t.Helper()
	p := startHelper(t, from, "probe", addr)
	return p.Wait() == nil
}

func nsInode(t *testing.T, path string) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

func echoAddr(n *Node) string { return n.Underlay.String() + ":7000" }

// TestNodesReachEachOther: processes started on two nodes live in their
// node's network namespace (not the test's), reach each other over the
// underlay, stop reaching each other when a node is cut off, and again when
// it is healed; a restarted process gets a new PID in the same namespace.
func TestNodesReachEachOther(t *testing.T) {
	l := New(t, Config{Nodes: 2, Zones: []string{"h", "i"}})
	n1, n2 := l.Nodes[0], l.Nodes[1]
	if n1.Zone != "h" || n2.Zone != "i" || n2.Underlay.String() != "10.255.0.2" || n2.NetnsPrefix != l.Prefix+"n2" {
		t.Fatalf("node 2 = %+v", n2)
	}
	e1 := startHelper(t, n1, "echo", echoAddr(n1))
	e2 := startHelper(t, n2, "echo", echoAddr(n2))

	self := nsInode(t, "/proc/self/ns/net")
	for _, c := range []struct {
		p *Proc
		n *Node
	}{{e1, n1}, {e2, n2}} {
		got := nsInode(t, fmt.Sprintf("/proc/%d/ns/net", c.p.PID()))
		if got == self {
			t.Errorf("%s runs in the test's network namespace", c.n.Name)
		}
		if want := nsInode(t, nsfs.Path(c.n.Namespace)); got != want {
			t.Errorf("%s: process netns inode %d, node namespace %d", c.n.Name, got, want)
		}
	}

	if !probe(t, n2, echoAddr(n1)) || !probe(t, n1, echoAddr(n2)) {
		t.Fatal("nodes do not reach each other over the underlay")
	}
	// The test itself reaches a node's service from inside another node,
	// and serves on a node from a listener made inside it.
	dialEcho(t, n2, echoAddr(n1))
	ln, err := n1.Listen(context.Background(), "tcp", n1.Underlay.String()+":7001")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }() //nolint:errcheck
		}
	}()
	dialEcho(t, n2, n1.Underlay.String()+":7001")

	if err := l.Cut(n1); err != nil {
		t.Fatal(err)
	}
	if probe(t, n2, echoAddr(n1)) {
		t.Error("n2 reaches n1 while n1 is cut off")
	}
	if probe(t, n1, echoAddr(n2)) {
		t.Error("n1 reaches n2 while cut off")
	}
	if err := l.Heal(n1); err != nil {
		t.Fatal(err)
	}
	if !probe(t, n2, echoAddr(n1)) || !probe(t, n1, echoAddr(n2)) {
		t.Error("nodes do not reach each other after healing")
	}

	old := e1.PID()
	if err := e1.Restart(); err != nil {
		t.Fatal(err)
	}
	waitOutputCount(t, e1, "ready", 2)
	if e1.PID() == old {
		t.Error("restart kept the PID")
	}
	if got, want := nsInode(t, fmt.Sprintf("/proc/%d/ns/net", e1.PID())), nsInode(t, nsfs.Path(n1.Namespace)); got != want {
		t.Errorf("restarted process in netns %d, want %d", got, want)
	}
	if !probe(t, n2, echoAddr(n1)) {
		t.Error("restarted echo not reachable")
	}
}

func waitOutputCount(t *testing.T, p *Proc, s string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(p.Output(), s) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s: want %d×%q in %q", p.Name, n, s, p.Output())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func dialEcho(t *testing.T, from *Node, addr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c, err := from.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, from.Name, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second)) //nolint:errcheck
	if _, err := fmt.Fprintln(c, "hello"); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || line != "hello\n" {
		t.Fatalf("echo from %s via %s: %q %v", addr, from.Name, line, err)
	}
}

// TestCloseLeavesNothing: after a helper that made a namespace (as an agent
// makes VPC copies) was kill -9ed, Close still removes every namespace,
// /etc/netns entry and process of the lab, and its owner file.
func TestCloseLeavesNothing(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces")
	}
	l, err := Start(Config{Nodes: 2, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			l.Close() //nolint:errcheck
		}
	})
	n1, n2 := l.Nodes[0], l.Nodes[1]
	vpcNS := n1.NetnsPrefix + "-vpc-test"
	mk := startHelper(t, n1, "mkns", vpcNS)
	echo := startHelper(t, n2, "echo", echoAddr(n2))
	// Made inside the node, visible outside it: a real namespace mount.
	h, err := nsfs.Open(nsfs.Path(vpcNS))
	if err != nil {
		t.Fatalf("namespace made on a node is not visible to the test: %v", err)
	}
	h.Close()
	if err := syscall.Kill(mk.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := mk.Wait(); err == nil {
		t.Fatal("kill -9ed helper exited cleanly")
	}
	pids := []int{mk.PID(), echo.PID()}

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	closed = true
	if left := Leftovers(l.Prefix); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
	for _, pid := range pids {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("process %d still exists after Close", pid)
		}
	}
	if _, err := os.Stat(ownerPath(l.Prefix)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("owner file left: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := n1.Start("late", []string{os.Args[0]}); err == nil {
		t.Error("Start after Close succeeded")
	}
}

// TestSweepStale: a lab whose owner is gone is swept (its processes killed
// by PID, its namespaces removed); a lab whose owner lives is not.
func TestSweepStale(t *testing.T) {
	live := New(t, Config{Nodes: 1})
	l := New(t, Config{Nodes: 1})
	echo := startHelper(t, l.Nodes[0], "echo", echoAddr(l.Nodes[0]))
	// A lab whose owner exited but is not reaped yet (a zombie, as a killed
	// test binary is until its parent waits) is stale too.
	zl := New(t, Config{Nodes: 1})
	zombie := exec.Command(os.Args[0])
	zombie.Env = append(os.Environ(), "LAB_HELPER=exit")
	if err := zombie.Start(); err != nil {
		t.Fatal(err)
	}
	defer zombie.Wait() //nolint:errcheck
	eventually(t, "helper becomes a zombie", func() error {
		if _, exited, err := procStat(zombie.Process.Pid); err != nil || !exited {
			return fmt.Errorf("not yet: %v", err)
		}
		return nil
	})
	if err := os.WriteFile(ownerPath(zl.Prefix), fmt.Appendf(nil, "owner %d %d\n", zombie.Process.Pid, mustStart(t, zombie.Process.Pid)), 0o600); err != nil {
		t.Fatal(err)
	}

	// Pretend l's owner died: no process has start time 0.
	if err := os.WriteFile(ownerPath(l.Prefix), fmt.Appendf(nil, "owner %d 0\nproc %d %d\n", os.Getpid(), echo.PID(), mustStart(t, echo.PID())), 0o600); err != nil {
		t.Fatal(err)
	}

	swept, err := SweepStale()
	if err != nil {
		t.Fatal(err)
	}
	if !contains(swept, l.Prefix) || !contains(swept, zl.Prefix) || contains(swept, live.Prefix) {
		t.Fatalf("swept %v; want %s and %s, not %s", swept, l.Prefix, zl.Prefix, live.Prefix)
	}
	if left := Leftovers(zl.Prefix); len(left) > 0 {
		t.Errorf("zombie-owned lab left: %v", left)
	}
	select {
	case <-echo.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("stale lab's process still runs")
	}
	if left := Leftovers(l.Prefix); len(left) > 0 {
		t.Errorf("stale lab left: %v", left)
	}
	if len(Leftovers(live.Prefix)) == 0 {
		t.Error("live lab's namespaces were swept")
	}
}

func mustStart(t *testing.T, pid int) uint64 {
	t.Helper()
	st, err := startTime(pid)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestConfigErrors: bad configurations are refused before anything is made.
func TestConfigErrors(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	for _, c := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no nodes", Config{}, "nodes"},
		{"too many nodes", Config{Nodes: MaxNodes + 1}, "nodes"},
		{"bad prefix", Config{Nodes: 1, Prefix: "Bad-Prefix"}, "invalid prefix"},
		{"bad mtu", Config{Nodes: 1, UnderlayMTU: 100}, "MTU"},
	} {
		t.Run(c.name, func(t *testing.T) {
			l, err := Start(c.cfg)
			if err == nil {
				l.Close() //nolint:errcheck
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q, want it to mention %q", err, c.want)
			}
			if c.cfg.Prefix != "" && len(Leftovers(c.cfg.Prefix)) > 0 {
				t.Errorf("left: %v", Leftovers(c.cfg.Prefix))
			}
		})
	}
}

// TestNodeAccessors: what a driver or an etcd member on a node needs.
func TestNodeAccessors(t *testing.T) {
	l := New(t, Config{Nodes: 3, UnderlayMTU: 1500})
	n3 := l.Nodes[2]
	idx, err := n3.UnderlayIndex()
	if err != nil {
		t.Fatal(err)
	}
	lk, err := n3.Netlink().LinkByIndex(idx)
	if err != nil || lk.Attrs().Name != "ul" || lk.Attrs().MTU != 1500 {
		t.Fatalf("underlay link %d of n3: %+v %v", idx, lk, err)
	}
	addrs, err := n3.Netlink().AddrList(lk, netlink.FAMILY_V4)
	if err != nil || len(addrs) != 1 || addrs[0].IPNet.String() != "10.255.0.3/24" {
		t.Fatalf("n3 underlay addresses: %v %v", addrs, err)
	}
	if got := nsInode(t, fmt.Sprintf("/proc/self/fd/%d", int(n3.NS()))); got != nsInode(t, nsfs.Path(n3.Namespace)) {
		t.Error("NS() is not the node namespace")
	}
	if l.Node("n2") != l.Nodes[1] || l.Node("n9") != nil {
		t.Error("Node by name")
	}
	if got, want := EtcdInitialCluster(l.Nodes...), "n1=https://10.255.0.1:2380,n2=https://10.255.0.2:2380,n3=https://10.255.0.3:2380"; got != want {
		t.Errorf("initial cluster %q, want %q", got, want)
	}
	if got := strings.Join(EtcdEndpoints(l.Nodes[:2]...), ","); got != "https://10.255.0.1:2379,https://10.255.0.2:2379" {
		t.Errorf("endpoints %q", got)
	}
}
