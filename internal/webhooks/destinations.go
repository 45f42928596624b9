package webhooks

import "net/netip"

// specialIPv4 holds the IANA IPv4 Special-Purpose Address Registry
// (RFC 6890 and its updates) plus multicast: none of it is a customer's
// public receiver, and some of it is the machine, its network or the cloud
// metadata service. Entries the registry marks globally reachable (AS112,
// AMT, anycast relays) are refused too: they are infrastructure, never
// webhook receivers.
var specialIPv4 = prefixes(
	"0.0.0.0/8",          // this network
	"10.0.0.0/8",         // private
	"100.64.0.0/10",      // shared address space (carrier-grade NAT)
	"127.0.0.0/8",        // loopback
	"169.254.0.0/16",     // link-local (cloud metadata at 169.254.169.254)
	"172.16.0.0/12",      // private
	"192.0.0.0/24",       // IETF protocol assignments
	"192.0.2.0/24",       // documentation (TEST-NET-1)
	"192.31.196.0/24",    // AS112-v4
	"192.52.193.0/24",    // AMT
	"192.88.99.0/24",     // deprecated 6to4 relay anycast
	"192.168.0.0/16",     // private
	"192.175.48.0/24",    // direct delegation AS112
	"198.18.0.0/15",      // benchmarking
	"198.51.100.0/24",    // documentation (TEST-NET-2)
	"203.0.113.0/24",     // documentation (TEST-NET-3)
	"224.0.0.0/4",        // multicast
	"240.0.0.0/4",        // reserved
	"255.255.255.255/32", // limited broadcast
)

// specialIPv6 holds the IANA IPv6 Special-Purpose Address Registry entries
// inside global unicast (2000::/3); everything outside 2000::/3 is refused
// anyway (loopback, unspecified, ULA, link-local, site-local, multicast,
// discard, IPv4-compatible and -translated forms, SRv6 SIDs).
var specialIPv6 = prefixes(
	"2001::/23",             // IETF protocol assignments: Teredo, benchmarking, ORCHID, AMT, AS112...
	"2001:db8::/32",         // documentation
	"2002::/16",             // 6to4: wraps an IPv4 address we would have to trust
	"2620:4f:8000::/48",     // direct delegation AS112
	"3fff::/20",             // documentation
	"64:ff9b:1::/48",        // local-use IPv4/IPv6 translation (outside 2000::/3; listed for clarity)
	"fc00::/7", "fe80::/10", // also outside 2000::/3
)

var (
	globalUnicastIPv6 = netip.MustParsePrefix("2000::/3")
	// nat64 is the well-known NAT64 prefix (RFC 6052): an IPv6-only host
	// reaches public IPv4 receivers through it, so the IPv4 address it
	// wraps decides.
	nat64 = netip.MustParsePrefix("64:ff9b::/96")
)

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// internal reports addresses a customer's webhook must not reach: anything
// in the special-purpose registries, IPv6 outside global unicast, and any
// IPv4 address wrapped in an IPv6 form (mapped, or NAT64) that would be
// refused on its own.
func internal(ip netip.Addr) bool {
	ip = ip.WithZone("")
	if ip.Is4In6() {
		ip = ip.Unmap()
	}
	if ip.Is4() {
		return inAny(specialIPv4, ip)
	}
	if nat64.Contains(ip) {
		b := ip.As16()
		return internal(netip.AddrFrom4([4]byte(b[12:16])))
	}
	return !globalUnicastIPv6.Contains(ip) || inAny(specialIPv6, ip)
}

func inAny(list []netip.Prefix, ip netip.Addr) bool {
	for _, p := range list {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
