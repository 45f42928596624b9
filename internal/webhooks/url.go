package webhooks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
)

// MaxURLLength bounds an endpoint URL.
const MaxURLLength = 2048

// ErrForbiddenDestination is returned for an endpoint that resolves to a
// loopback, private, link-local or other special-purpose address while
// those are not allowed. Front-ends say how the operator allows them.
var ErrForbiddenDestination = errors.New("webhook destination is a private, loopback, link-local or other special-purpose address")

// ValidateURL checks an endpoint URL: http or https, a host, no
// credentials, bounded length.
func ValidateURL(raw string) (*url.URL, error) {
	if len(raw) > MaxURLLength {
		return nil, fmt.Errorf("url longer than %d bytes", MaxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("url scheme must be http or https, got %q", u.Scheme)
	case u.Host == "" || u.Hostname() == "":
		return nil, errors.New("url has no host")
	case u.User != nil:
		return nil, errors.New("url must not contain credentials; the signature authenticates deliveries")
	case u.Fragment != "":
		return nil, errors.New("url must not have a fragment")
	}
	return u, nil
}

// Guard decides which destinations may receive deliveries.
type Guard struct {
	// AllowPrivate allows loopback, private and link-local destinations
	// (tests, on-premise receivers).
	AllowPrivate bool
	// Resolver resolves host names; net.DefaultResolver when nil.
	Resolver *net.Resolver
}

// CheckHost resolves host and refuses it when any address is internal and
// private destinations are not allowed. Creation checks it; the dialer
// checks again at connect time, since DNS can change in between.
func (g Guard) CheckHost(ctx context.Context, host string) error {
	if g.AllowPrivate {
		return nil
	}
	host = strings.Trim(host, "[]")
	if ip, err := netip.ParseAddr(host); err == nil {
		if internal(ip) {
			return ErrForbiddenDestination
		}
		return nil
	}
	r := g.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", host, err)
	}
	for _, a := range addrs {
		if internal(a) {
			return ErrForbiddenDestination
		}
	}
	return nil
}

// control refuses, at connect time, a connection to an internal address.
func (g Guard) control(network, address string, _ syscall.RawConn) error {
	if g.AllowPrivate {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("dial %s: %w", address, err)
	}
	if internal(ap.Addr()) {
		return ErrForbiddenDestination
	}
	return nil
}
