package invariant

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/privlink/privlink/internal/netdrv"
)

// Echo dials addr from inside vpcID and checks that a line written comes
// back: the backends that tests put behind their services echo.
func Echo(ctx context.Context, sk netdrv.Sockets, vpcID string, addr netip.AddrPort) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := sk.Dial(ctx, vpcID, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	dl, _ := ctx.Deadline()
	c.SetDeadline(dl)
	if _, err := fmt.Fprintln(c, "ping"); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err == nil && line != "ping\n" {
		err = fmt.Errorf("echo %q", line)
	}
	return err
}

// Traffic checks the data plane against Want: every host is plugged in
// (it reaches its VPC's resolver over TCP: veth, address, default route
// and the VPC's forwarding), every serving endpoint zone echoes, every
// refusing one does not.
func (w Want) Traffic(ctx context.Context, sk netdrv.Sockets) []string {
	var bad []string
	for id, vpc := range w.Hosts {
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		c, err := sk.DialHost(dctx, id, sk.ResolverAddr(vpc))
		cancel()
		if err != nil {
			bad = append(bad, fmt.Sprintf("host %s does not reach its VPC's resolver: %v", id, err))
			continue
		}
		c.Close()
	}
	for _, ez := range w.Serving {
		if err := Echo(ctx, sk, ez.VpcID, ez.Addr); err != nil {
			bad = append(bad, fmt.Sprintf("endpoint %s in %s (%s) does not carry traffic: %v", ez.EndpointID, ez.ZoneID, ez.Addr, err))
		}
	}
	for _, ez := range w.Refusing {
		if Echo(ctx, sk, ez.VpcID, ez.Addr) == nil {
			bad = append(bad, fmt.Sprintf("endpoint %s in %s (%s) carries traffic but must not", ez.EndpointID, ez.ZoneID, ez.Addr))
		}
	}
	return bad
}
