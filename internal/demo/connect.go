package demo

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/privlink/privlink/internal/netdrv"
)

const (
	writeSQL = "CREATE TABLE IF NOT EXISTS orders (id INT PRIMARY KEY, item VARCHAR(64), qty INT); " +
		"REPLACE INTO orders VALUES (1, 'disk', 2), (2, 'cpu', 8), (3, 'ram', 16); " +
		"SELECT id, item, qty FROM orders ORDER BY id"
	infoSQL = "SELECT client_addr, vpc_id, endpoint_id, service_id FROM privlink.connection_info"
)

// connect runs the customer's MySQL client from the ECS host: by endpoint
// domain, then by the zonal domain of the host's own zone.
func (r *run) connect(ctx context.Context) error {
	useCLI := false
	if _, err := exec.LookPath("mysql"); err == nil {
		useCLI = true
	}
	if r.srv.Driver.Name != "netns" {
		// Without namespaces the mysql CLI can neither use the VPC resolver
		// nor speak from the host's address, which the security group checks.
		useCLI = false
		r.say("  (loopback driver: using the built-in client, which resolves through the VPC resolver and speaks from the host's address)")
	}
	r.sum.Client = "built-in (go-sql-driver/mysql)"
	if useCLI {
		r.sum.Client = "mysql CLI"
	}
	r.sum.MySQLCommand = fmt.Sprintf("mysql -h %s -P %d -u %s -p", r.sum.EndpointDomain, dbPort, dbUser)
	if err := r.waitDNS(ctx); err != nil {
		return err
	}
	r.stepf("customer, on ECS host %s: %s", r.host.HostID, r.sum.MySQLCommand)
	r.say("  client: %s", r.sum.Client)
	var err error
	if r.sum.Query, err = r.query(ctx, useCLI, r.sum.EndpointDomain, writeSQL); err != nil {
		return err
	}
	r.table(r.sum.Query)
	r.stepf("vendor: which endpoint did this session come from? (PROXY protocol v2, Alibaba TLV 0xE1)")
	if r.sum.ProviderSaw, err = r.query(ctx, useCLI, r.sum.EndpointDomain, infoSQL); err != nil {
		return err
	}
	r.table(r.sum.ProviderSaw)
	zone := r.host.ZoneID
	r.stepf("same-zone path (lowest latency): the zonal domain of %s", zone)
	if r.sum.SameZone, err = r.query(ctx, useCLI, r.sum.ZoneDomains[zone], infoSQL); err != nil {
		return err
	}
	r.table(r.sum.SameZone)
	if len(r.sum.ProviderSaw) < 2 || len(r.sum.ProviderSaw[1]) < 3 || r.sum.ProviderSaw[1][2] != r.sum.EndpointID {
		return fmt.Errorf("the vendor's instance did not see endpoint %s: %v", r.sum.EndpointID, r.sum.ProviderSaw)
	}
	r.say("\nDone: the customer reached the vendor's database at %s through PrivateLink.", r.sum.EndpointDomain)
	return nil
}

// waitDNS waits until the VPC resolver answers the endpoint domain with
// every zone's address (the resolver follows the store's watch, so it can
// trail the API's status by a moment).
func (r *run) waitDNS(ctx context.Context) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		ips, err := r.lookup(ctx, r.sum.EndpointDomain)
		if err == nil && len(ips) == len(r.sum.ZoneIPs) {
			r.say("  the VPC resolver %s answers %s with %v", r.srv.Driver.Sockets.ResolverAddr(r.sc.ConsumerNet.VPC.VpcID).Addr(), r.sum.EndpointDomain, ips)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("endpoint domain %s does not resolve to every zone in the VPC: %v %v", r.sum.EndpointDomain, ips, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (r *run) table(rows [][]string) {
	for _, row := range rows {
		r.say("  | %s", strings.Join(row, " | "))
	}
}

// query runs sql from the customer host and returns the last result set,
// header first.
func (r *run) query(ctx context.Context, useCLI bool, host, q string) ([][]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if useCLI {
		return r.queryCLI(ctx, host, q)
	}
	return r.queryBuiltin(ctx, host, q)
}

func (r *run) queryCLI(ctx context.Context, host, q string) ([][]string, error) {
	argv := []string{"mysql", "--no-defaults", "-h", host, "-P", strconv.Itoa(dbPort), "-u", dbUser, "-p" + dbPassword,
		"--skip-ssl", "--connect-timeout=10", "-B", "demo", "-e", q}
	cmd := r.srv.Driver.Sockets.ExecCommand(ctx, r.host.HostID, argv)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("mysql -h %s: %v: %s", host, err, strings.TrimSpace(errOut.String()))
	}
	var rows [][]string
	for _, line := range strings.Split(strings.TrimRight(out.String(), "\n"), "\n") {
		rows = append(rows, strings.Split(line, "\t"))
	}
	return rows, nil
}

// lookup asks the customer VPC's resolver from inside the host.
func (r *run) lookup(ctx context.Context, name string) ([]netip.Addr, error) {
	hs := r.srv.Driver.Sockets
	res := netdrv.HostResolver(hs, r.host.HostID, r.srv.Driver.Sockets.ResolverAddr(r.sc.ConsumerNet.VPC.VpcID))
	return res.LookupNetIP(ctx, "ip4", name)
}

// resolve returns the first address lookup finds.
func (r *run) resolve(ctx context.Context, name string) (netip.Addr, error) {
	ips, err := r.lookup(ctx, name)
	if err != nil || len(ips) == 0 {
		return netip.Addr{}, fmt.Errorf("resolve %s through the VPC resolver: %v", name, err)
	}
	return ips[0], nil
}

func (r *run) queryBuiltin(ctx context.Context, host, q string) ([][]string, error) {
	hs := r.srv.Driver.Sockets
	netName := "privlink-demo-" + r.host.HostID
	mysql.RegisterDialContext(netName, func(ctx context.Context, addr string) (net.Conn, error) {
		h, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		ip, err := r.resolve(ctx, h)
		if err != nil {
			return nil, err
		}
		p, _ := strconv.Atoi(port)
		return hs.DialHost(ctx, r.host.HostID, netip.AddrPortFrom(ip, uint16(p)))
	})
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = dbUser, dbPassword, netName, net.JoinHostPort(host, strconv.Itoa(dbPort)), "demo"
	cfg.MultiStatements = true
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	db.SetMaxOpenConns(1)
	stmts := strings.Split(q, "; ")
	for _, s := range stmts[:len(stmts)-1] {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return nil, fmt.Errorf("%s: %w", s, err)
		}
	}
	rows, err := db.QueryContext(ctx, stmts[len(stmts)-1])
	if err != nil {
		return nil, fmt.Errorf("query via %s: %w", host, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	out := [][]string{cols}
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = v.String
		}
		out = append(out, row)
	}
	return out, rows.Err()
}
