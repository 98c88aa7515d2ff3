package sampledb

import (
	"bytes"
	"database/sql"
	"strings"
	"testing"

	"github.com/pires/go-proxyproto"
)

type infoRow struct {
	ConnID                       uint32
	ClientAddr                   string
	Proxied                      bool
	VPCID, EndpointID, ServiceID string
}

func queryInfo(t *testing.T, db *sql.DB) infoRow {
	t.Helper()
	var r infoRow
	err := db.QueryRowContext(t.Context(),
		"SELECT conn_id, client_addr, proxied, vpc_id, endpoint_id, service_id FROM privlink.connection_info").
		Scan(&r.ConnID, &r.ClientAddr, &r.Proxied, &r.VPCID, &r.EndpointID, &r.ServiceID)
	if err != nil {
		t.Fatalf("query connection_info: %v", err)
	}
	return r
}

func TestProxyProtocolInfo(t *testing.T) {
	s := startServer(t)
	allTLVs := []proxyproto.TLV{
		AlibabaTLV(AlibabaSubtypeVPCID, "vpc-bp1xyzvpc000000000001"),
		AlibabaTLV(AlibabaSubtypeEndpointID, "ep-bp1endpoint0000000001"),
		AlibabaTLV(AlibabaSubtypeServiceID, "epsrv-bp1service00000001"),
	}
	tests := []struct {
		name       string
		header     func(t *testing.T) *proxyproto.Header // nil: plain connection
		wantAddr   string                                // exact, or prefix if it ends with ':'
		wantProxed bool
		wantVPC    string
		wantEP     string
		wantSvc    string
	}{
		{
			name:     "plain connection",
			wantAddr: "127.0.0.1:",
		},
		{
			name:       "IPv4 with Alibaba TLVs",
			header:     func(t *testing.T) *proxyproto.Header { return proxyHeader(t, "172.16.1.5:40000", allTLVs...) },
			wantAddr:   "172.16.1.5:40000",
			wantProxed: true,
			wantVPC:    "vpc-bp1xyzvpc000000000001",
			wantEP:     "ep-bp1endpoint0000000001",
			wantSvc:    "epsrv-bp1service00000001",
		},
		{
			name: "IPv6, endpoint only, other TLVs ignored",
			header: func(t *testing.T) *proxyproto.Header {
				return proxyHeader(t, "[fd00::5]:40001",
					proxyproto.TLV{Type: proxyproto.PP2_TYPE_AUTHORITY, Value: []byte("db.example")},
					AlibabaTLV(AlibabaSubtypeEndpointID, "ep-only"),
					proxyproto.TLV{Type: 0xEA, Value: []byte("\x01vpce-aws")})
			},
			wantAddr:   "[fd00::5]:40001",
			wantProxed: true,
			wantEP:     "ep-only",
		},
		{
			name:       "no TLVs",
			header:     func(t *testing.T) *proxyproto.Header { return proxyHeader(t, "172.16.1.6:40002") },
			wantAddr:   "172.16.1.6:40002",
			wantProxed: true,
		},
		{
			name: "LOCAL command keeps the TCP peer",
			header: func(t *testing.T) *proxyproto.Header {
				h := proxyHeader(t, "172.16.1.7:40003", allTLVs[1])
				h.Command = proxyproto.LOCAL
				return h
			},
			wantAddr:   "127.0.0.1:",
			wantProxed: true,
			wantEP:     "ep-bp1endpoint0000000001",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h *proxyproto.Header
			if tc.header != nil {
				h = tc.header(t)
			}
			db := openDB(t, s.Addr(), testLogin, testPassword, h)
			got := queryInfo(t, db)
			if strings.HasSuffix(tc.wantAddr, ":") {
				if !strings.HasPrefix(got.ClientAddr, tc.wantAddr) {
					t.Errorf("client_addr = %q, want prefix %q", got.ClientAddr, tc.wantAddr)
				}
			} else if got.ClientAddr != tc.wantAddr {
				t.Errorf("client_addr = %q, want %q", got.ClientAddr, tc.wantAddr)
			}
			if got.Proxied != tc.wantProxed || got.VPCID != tc.wantVPC || got.EndpointID != tc.wantEP || got.ServiceID != tc.wantSvc {
				t.Errorf("got proxied=%v vpc=%q ep=%q svc=%q, want %v %q %q %q",
					got.Proxied, got.VPCID, got.EndpointID, got.ServiceID,
					tc.wantProxed, tc.wantVPC, tc.wantEP, tc.wantSvc)
			}
			// The proxied connection must still be a working SQL session.
			if _, err := db.ExecContext(t.Context(), "CREATE TABLE IF NOT EXISTS proxied_ok (id INT PRIMARY KEY)"); err != nil {
				t.Errorf("CREATE TABLE over this connection: %v", err)
			}
		})
	}
}

// Each session sees its own connection's values, not another one's.
func TestProxyInfoIsPerSession(t *testing.T) {
	s := startServer(t)
	dbs := make([]*sql.DB, 3)
	for i := range dbs {
		ep := "ep-" + strings.Repeat(string(rune('a'+i)), 8)
		dbs[i] = openDB(t, s.Addr(), testLogin, testPassword,
			proxyHeader(t, "172.16.1.5:4000"+string(rune('0'+i)), AlibabaTLV(AlibabaSubtypeEndpointID, ep)))
		dbs[i].SetMaxOpenConns(1)
		if err := dbs[i].PingContext(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[uint32]bool{}
	for i, db := range dbs {
		got := queryInfo(t, db)
		if want := "ep-" + strings.Repeat(string(rune('a'+i)), 8); got.EndpointID != want {
			t.Errorf("session %d: endpoint_id = %q, want %q", i, got.EndpointID, want)
		}
		if seen[got.ConnID] {
			t.Errorf("conn_id %d reported by two sessions", got.ConnID)
		}
		seen[got.ConnID] = true
	}
}

func TestParseAlibabaTLVs(t *testing.T) {
	tlv := func(typ byte, v string) proxyproto.TLV {
		return proxyproto.TLV{Type: proxyproto.PP2Type(typ), Value: []byte(v)}
	}
	tests := []struct {
		name          string
		tlvs          []proxyproto.TLV
		vpc, ep, svcs string
	}{
		{"none", nil, "", "", ""},
		{"all three", []proxyproto.TLV{tlv(0xE1, "\x01vpc-1"), tlv(0xE1, "\x02ep-1"), tlv(0xE1, "\x03epsrv-1")}, "vpc-1", "ep-1", "epsrv-1"},
		{"any order", []proxyproto.TLV{tlv(0xE1, "\x03s"), tlv(0xE1, "\x01v")}, "v", "", "s"},
		{"first wins", []proxyproto.TLV{tlv(0xE1, "\x02ep-a"), tlv(0xE1, "\x02ep-b")}, "", "ep-a", ""},
		{"empty value skipped", []proxyproto.TLV{tlv(0xE1, "\x02"), tlv(0xE1, "\x02ep-b")}, "", "ep-b", ""},
		{"trailing NULs trimmed", []proxyproto.TLV{tlv(0xE1, "\x01vpc-1\x00\x00")}, "vpc-1", "", ""},
		{"unknown subtype", []proxyproto.TLV{tlv(0xE1, "\x04x"), tlv(0xE1, "\x00y")}, "", "", ""},
		{"other types ignored", []proxyproto.TLV{tlv(0xEA, "\x01vpce-1"), tlv(0xE0, "\x02ep"), tlv(0x05, "\x01u")}, "", "", ""},
		{"zero-length TLV", []proxyproto.TLV{tlv(0xE1, ""), {Type: 0xE1}}, "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vpc, ep, svc := ParseAlibabaTLVs(tc.tlvs)
			if vpc != tc.vpc || ep != tc.ep || svc != tc.svcs {
				t.Errorf("got (%q, %q, %q), want (%q, %q, %q)", vpc, ep, svc, tc.vpc, tc.ep, tc.svcs)
			}
		})
	}
}

// The wire form must match Alibaba's documented layout byte for byte.
func TestAlibabaTLVWireFormat(t *testing.T) {
	raw, err := proxyproto.JoinTLVs([]proxyproto.TLV{AlibabaTLV(AlibabaSubtypeEndpointID, "ep-1")})
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0xE1, 0x00, 0x05, 0x02, 'e', 'p', '-', '1'}
	if !bytes.Equal(raw, want) {
		t.Errorf("wire = % x, want % x", raw, want)
	}
}

func FuzzParseAlibabaTLVs(f *testing.F) {
	for _, seed := range [][]byte{
		{},
		{0xE1, 0x00, 0x05, 0x02, 'e', 'p', '-', '1'},
		{0xE1, 0x00, 0x01, 0x01},
		{0xE1, 0x00, 0x00},
		{0xE1, 0xFF, 0xFF, 0x01},
		{0xE1, 0x00, 0x04, 0x01, 'v', 0x00, 0x00, 0xE1, 0x00, 0x02, 0x03, 's', 0x04, 0x00, 0x00},
		{0xEA, 0x00, 0x03, 0x01, 'a', 'b'},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		tlvs, err := proxyproto.SplitTLVs(raw)
		if err != nil {
			tlvs = []proxyproto.TLV{{Type: PP2TypeAlibaba, Value: raw}} // still must not panic
		}
		vpc, ep, svc := ParseAlibabaTLVs(tlvs)
		for i, got := range []string{vpc, ep, svc} {
			if got == "" {
				continue
			}
			// A non-empty result must come from a 0xE1 TLV with that subtype.
			found := false
			for _, tlv := range tlvs {
				if tlv.Type == PP2TypeAlibaba && len(tlv.Value) > 0 && tlv.Value[0] == byte(i+1) &&
					strings.TrimRight(string(tlv.Value[1:]), "\x00") == got {
					found = true
				}
			}
			if !found {
				t.Fatalf("subtype %d value %q not present in %v", i+1, got, tlvs)
			}
			if strings.HasSuffix(got, "\x00") {
				t.Fatalf("value %q keeps a trailing NUL", got)
			}
		}
	})
}
