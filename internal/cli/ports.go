package cli

import (
	"fmt"
	"strconv"
	"strings"
)

// parseServicePorts splits --port values "PORT", "PORT/tcp" and
// "PORT/udp" into TCP and UDP ports (the server validates ranges and
// duplicates).
func parseServicePorts(vals []string) (tcp, udp []int, err error) {
	for _, v := range vals {
		num, proto, _ := strings.Cut(strings.TrimSpace(v), "/")
		p, err := strconv.Atoi(num)
		if err != nil {
			return nil, nil, fmt.Errorf("--port %q: want PORT, PORT/tcp or PORT/udp", v)
		}
		switch strings.ToLower(proto) {
		case "", "tcp":
			tcp = append(tcp, p)
		case "udp":
			udp = append(udp, p)
		default:
			return nil, nil, fmt.Errorf("--port %q: protocol %q must be tcp or udp", v, proto)
		}
	}
	return tcp, udp, nil
}
