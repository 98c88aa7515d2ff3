//go:build linux

package lab

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/nsfs"
	"github.com/privlink/privlink/internal/server"
)

// TestPrivlinkNodes runs the real binary as two nodes of one zone: privlink
// server --node n1 --underlay-addr 10.255.0.1 (embedded etcd, API, its
// node agent) on n1 and privlink agent --node n2 on n2. Both register
// (node list: Ready, their underlay addresses); a host of one VPC is placed
// on each; TCP from the host on n1 reaches the one on n2 through the VXLAN
// overlay the two agents built from the store.
func TestPrivlinkNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the privlink binary")
	}
	const zone = "cn-hangzhou-h"
	l := New(t, Config{Nodes: 3, Zones: []string{zone}})
	bin := privlinkBin(t)
	n1, n2, n3 := l.Nodes[0], l.Nodes[1], l.Nodes[2]
	data := filepath.Join(l.Dir, "n1-data")
	u1 := n1.Underlay.String()
	srv, err := n1.Start("server", []string{bin, "server", "--data-dir", data, "--network", "netns",
		"--listen", u1 + ":8443", "--tls-self-signed",
		"--etcd-listen-client", "https://" + u1 + ":2379", "--etcd-listen-peer", "https://" + u1 + ":2380",
		"--netns-prefix", n1.NetnsPrefix, "--node", "n1", "--zone", zone, "--underlay-addr", u1, "--log-level", "warn"})
	if err != nil {
		t.Fatal(err)
	}
	token := waitFile(t, srv, filepath.Join(data, "admin.token"))
	caFile, _ := server.SelfSignedPaths(data)
	waitFile(t, srv, caFile)
	admin, err := n3.Client("https://"+u1+":8443", strings.TrimSpace(token), caFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var user *client.Client
	eventually(t, "the API answers from n3", func() error {
		var err error
		user, _, err = admin.CreateAccountClient(ctx, "labuser")
		return err
	})
	pki := filepath.Join(data, "pki")
	agent, err := n2.Start("agent", []string{bin, "agent", "--zone", zone, "--network", "netns",
		"--etcd-endpoints", "https://" + u1 + ":2379", "--etcd-cacert", filepath.Join(pki, "ca.crt"),
		"--etcd-cert", filepath.Join(pki, "client.crt"), "--etcd-key", filepath.Join(pki, "client.key"),
		"--netns-prefix", n2.NetnsPrefix, "--node", "n2", "--underlay-addr", n2.Underlay.String(), "--log-level", "warn"})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "both nodes Ready", func() error {
		if !agent.Running() {
			t.Fatalf("agent exited: %s", agent.Output())
		}
		nodes, err := admin.ListNodes(ctx)
		if err != nil {
			return err
		}
		ready := map[string]string{}
		for _, n := range nodes {
			if n.Status == "Ready" {
				ready[n.Name] = n.UnderlayAddr
			}
		}
		if ready["n1"] != u1 || ready["n2"] != n2.Underlay.String() {
			return fmt.Errorf("nodes %+v", nodes)
		}
		return nil
	})

	vpc, err := user.CreateVPC(ctx, api.CreateVPCRequest{Name: "v", CidrBlock: "192.168.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	vsw, err := user.CreateVSwitch(ctx, api.CreateVSwitchRequest{VpcID: vpc.VpcID, ZoneID: zone, CidrBlock: "192.168.1.0/24", Name: "h"})
	if err != nil {
		t.Fatal(err)
	}
	var hosts []string
	var ips []string
	for _, n := range []*Node{n1, n2} {
		h, err := user.CreateHost(ctx, api.CreateHostRequest{VSwitchID: vsw.VSwitchID, NodeName: n.Name})
		if err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, nsfs.Path(n.NetnsPrefix+"-"+h.HostID))
		ips = append(ips, h.IP.String())
	}
	var ln net.Listener
	eventually(t, "n2's agent makes its host", func() error {
		h, err := nsfs.Open(hosts[1])
		if err != nil {
			return err
		}
		defer h.Close()
		return nsfs.In(l.origin, h, func() (err error) {
			ln, err = net.Listen("tcp", ":7001")
			return err
		})
	})
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				line, _ := bufio.NewReader(c).ReadString('\n')
				io.WriteString(c, "n2 "+line)
			}()
		}
	}()
	eventually(t, "host on n1 -> host on n2 over the overlay", func() error {
		h, err := nsfs.Open(hosts[0])
		if err != nil {
			return err
		}
		defer h.Close()
		return nsfs.In(l.origin, h, func() error {
			c, err := net.DialTimeout("tcp", ips[1]+":7001", 2*time.Second)
			if err != nil {
				return err
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(3 * time.Second))
			io.WriteString(c, "hi\n")
			got, err := bufio.NewReader(c).ReadString('\n')
			if err == nil && got != "n2 hi\n" {
				err = fmt.Errorf("answer %q", got)
			}
			return err
		})
	})
	for _, p := range []*Proc{agent, srv} {
		if err := p.Kill(); err != nil {
			t.Fatal(err)
		}
	}
}
