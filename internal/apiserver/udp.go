package apiserver

import (
	"slices"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
)

// checkServicePorts validates a service's TCP and UDP listener ports: 1 to
// api.MaxPortsPerService in all, each valid and listed once per protocol
// (one number may be both TCP and UDP).
func checkServicePorts(tcp, udp []int) error {
	if len(udp) == 0 {
		return checkPorts(tcp)
	}
	if n := len(tcp) + len(udp); n > api.MaxPortsPerService {
		return model.Invalid("UdpPorts", "1 to %d listener ports are needed (TCP and UDP together), got %d", api.MaxPortsPerService, n)
	}
	if len(tcp) > 0 {
		if err := checkPorts(tcp); err != nil {
			return err
		}
	}
	for i, p := range udp {
		if err := model.ValidatePort("UdpPorts", p); err != nil {
			return err
		}
		if slices.Contains(udp[:i], p) {
			return model.Invalid("UdpPorts", "UDP port %d is listed twice", p)
		}
	}
	return nil
}

// portNumbers is the set of port numbers of both protocols (a backend
// port may be given only when there is one).
func portNumbers(tcp, udp []int) []int {
	out := slices.Clone(tcp)
	for _, p := range udp {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// maxUDPHealthCheckText bounds udpHealthCheckReq and udpHealthCheckExp
// (Alibaba NLB: 1 to 500 characters).
const maxUDPHealthCheckText = 500

// checkUDPOptions validates the UDP-only options of a service.
func checkUDPOptions(req *api.CreateServiceRequest) error {
	if t := req.UDPIdleTimeout; t < 0 || t > 86400 {
		return model.Invalid("UdpIdleTimeoutSeconds", "udpIdleTimeoutSeconds must be 1 to 86400 (0: 60)")
	}
	if len(req.UDPPorts) == 0 && (req.UDPIdleTimeout != 0 || req.UDPHealthCheckReq != "" || req.UDPHealthCheckExp != "") {
		return model.Invalid("UdpPorts", "udpIdleTimeoutSeconds and udpHealthCheck* apply to UDP ports; the service has none")
	}
	for _, f := range []struct{ name, v string }{{"UdpHealthCheckReq", req.UDPHealthCheckReq}, {"UdpHealthCheckExp", req.UDPHealthCheckExp}} {
		if len(f.v) > maxUDPHealthCheckText {
			return model.Invalid(f.name, "at most %d characters", maxUDPHealthCheckText)
		}
	}
	if (req.UDPHealthCheckReq == "") != (req.UDPHealthCheckExp == "") {
		return model.Invalid("UdpHealthCheckExp", "give udpHealthCheckReq and udpHealthCheckExp together (the probe payload and the text its reply must contain)")
	}
	return nil
}
