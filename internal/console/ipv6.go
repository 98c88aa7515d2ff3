package console

import (
	"strconv"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
)

// ipv6Fields adds the IPv6 error codes to m, shown next to field.
func ipv6Fields(m fieldMap, field string) fieldMap {
	for _, code := range []string{model.CodeIPv6Malformed, model.CodeIPv6NotULA, model.CodeIPv6PrefixLength,
		model.CodeIPv6IndexRange, model.CodeIPv6Overlapped, model.CodeIPv6NotEnabled, "QuotaExceeded.Ipv6CidrBlock"} {
		m[code] = field
	}
	return m
}

// vswitchIPv6Form reads the vSwitch form's IPv6 field: empty = IPv4 only,
// "auto" = the lowest free /64, N = the /64 number N of the VPC's /56.
func vswitchIPv6Form(f *form, req *api.CreateVSwitchRequest) {
	switch v := f.Get("ipv6Index"); v {
	case "":
	case "auto":
		req.EnableIpv6 = true
	default:
		n, err := strconv.Atoi(v)
		if err != nil {
			f.fail("ipv6Index", "enter the /64 number (0-255), auto, or nothing for IPv4 only")
			return
		}
		req.Ipv6CidrBlock = &n
	}
}

// addressIPVersionForm reads the service form's dual-stack box.
func addressIPVersionForm(f *form) string {
	if f.Checked("dualStack") {
		return model.AddressDualStack
	}
	return ""
}
