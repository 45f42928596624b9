package webhooks

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// The Standard Webhooks specification's published test vector.
func TestSignMatchesTheSpecificationsTestVector(t *testing.T) {
	t.Parallel()
	got, err := Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if err != nil || got != "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=" {
		t.Fatalf("signature = %q (%v), want the spec's", got, err)
	}
	if _, err := Sign("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "m", time.Now(), nil); !errors.Is(err, ErrInvalidSecret) {
		t.Fatalf("a secret without whsec_: %v, want ErrInvalidSecret", err)
	}
	both, err := SignatureHeader([]string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_AAAA"}, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if err != nil || !strings.HasPrefix(both, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= v1,") {
		t.Fatalf("two secrets: %q (%v), want two space-separated signatures", both, err)
	}
}

func TestValidateURL(t *testing.T) {
	t.Parallel()
	for raw, ok := range map[string]bool{
		"https://hooks.example.com/upstream":                             true,
		"http://hooks.example.com:8080/x?y=1":                            true,
		"ftp://hooks.example.com/":                                       false,
		"https://user:pass@hooks.example.com/":                           false,
		"https:///path":                                                  false,
		"hooks.example.com/upstream":                                     false,
		"https://hooks.example.com/#frag":                                false,
		"https://hooks.example.com/" + strings.Repeat("a", MaxURLLength): false,
	} {
		if _, err := ValidateURL(raw); (err == nil) != ok {
			t.Errorf("ValidateURL(%.60q) = %v, want ok %v", raw, err, ok)
		}
	}
}

// Every special-purpose range, and IPv4 wrapped in IPv6, is refused at
// creation (CheckHost) and at connect time (the dialer's control), and
// public addresses in any form pass both.
func TestGuardRefusesSpecialPurposeAddresses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		host    string
		refused bool
	}{
		{"127.0.0.1", true}, {"10.0.0.1", true}, {"172.31.255.255", true}, {"192.168.1.1", true},
		{"169.254.169.254", true}, {"100.64.0.1", true}, {"0.0.0.0", true},
		{"255.255.255.255", true}, {"198.18.0.1", true}, {"198.19.255.1", true}, {"192.0.0.1", true},
		{"240.0.0.1", true}, {"192.0.2.2", true}, {"198.51.100.7", true}, {"203.0.113.9", true},
		{"224.0.0.251", true}, {"192.88.99.1", true}, {"192.31.196.1", true},
		{"::1", true}, {"::", true}, {"fe80::1", true}, {"fc00::1", true}, {"fd12:3456::1", true}, {"ff02::1", true},
		{"64:ff9b::7f00:1", true}, {"64:ff9b::a9fe:a9fe", true}, {"64:ff9b::a00:1", true}, {"64:ff9b:1::808:808", true},
		{"2002:7f00:1::", true}, {"2002:808:808::1", true}, {"::127.0.0.1", true}, {"::ffff:0:7f00:1", true},
		{"::ffff:127.0.0.1", true}, {"::ffff:169.254.169.254", true}, {"::8.8.8.8", true},
		{"2001::1", true}, {"2001:db8::1", true}, {"3fff::1", true}, {"100::1", true}, {"5f00::1", true},
		{"fec0::1", true},
		{"93.184.215.14", false}, {"8.8.8.8", false}, {"1.1.1.1", false}, {"2606:4700:4700::1111", false},
		{"2a00:1450:4001:82b::200e", false}, {"::ffff:8.8.8.8", false}, {"64:ff9b::808:808", false},
	} {
		err := (Guard{}).CheckHost(ctx, "["+tc.host+"]")
		if tc.refused != errors.Is(err, ErrForbiddenDestination) || !tc.refused && err != nil {
			t.Errorf("CheckHost(%s) = %v, want refused %v", tc.host, err, tc.refused)
		}
		addr := netip.AddrPortFrom(netip.MustParseAddr(tc.host), 443).String()
		if err := (Guard{}).control("tcp", addr, nil); tc.refused != errors.Is(err, ErrForbiddenDestination) || !tc.refused && err != nil {
			t.Errorf("connecting to %s: %v, want refused %v", addr, err, tc.refused)
		}
		if err := (Guard{AllowPrivate: true}).control("tcp", addr, nil); err != nil {
			t.Errorf("with private destinations allowed, connecting to %s: %v", addr, err)
		}
	}
}

// By default destinations inside the network are refused: by address, by
// a name that resolves to one, and at connect time.
func TestGuardRefusesPrivateDestinations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, host := range []string{"127.0.0.1", "169.254.169.254", "10.1.2.3", "192.168.0.1", "::1", "[::1]", "localhost", "0.0.0.0", "100.64.0.1", "fe80::1"} {
		if err := (Guard{}).CheckHost(ctx, host); !errors.Is(err, ErrForbiddenDestination) {
			t.Errorf("CheckHost(%q) = %v, want ErrForbiddenDestination", host, err)
		}
		if err := (Guard{AllowPrivate: true}).CheckHost(ctx, host); err != nil {
			t.Errorf("with private destinations allowed, CheckHost(%q) = %v", host, err)
		}
	}
	if err := (Guard{}).CheckHost(ctx, "93.184.215.14"); err != nil {
		t.Errorf("a public address was refused: %v", err)
	}

	// Connect time: the URL passed creation (say DNS changed since), but
	// the dialer refuses the loopback address it now leads to.
	var hit bool
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hit = true }))
	defer srv.Close()
	res := NewSender(Guard{}, time.Second).Send(ctx, srv.URL, Message{ID: "msg_1", Body: []byte("{}"),
		Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}, time.Now())
	if !errors.Is(res.Err, ErrForbiddenDestination) || hit {
		t.Fatalf("send to loopback: %+v, server hit %v; want refused before connecting", res, hit)
	}
	res = NewSender(Guard{AllowPrivate: true}, time.Second).Send(ctx, srv.URL, Message{ID: "msg_1", Body: []byte("{}"),
		Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}, time.Now())
	if !res.OK() || !hit {
		t.Fatalf("allowed send: %+v", res)
	}
}

// A redirect is not followed: it could lead anywhere the guard would not
// check the same way.
func TestSenderDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
	}))
	defer srv.Close()
	res := NewSender(Guard{AllowPrivate: true}, time.Second).Send(context.Background(), srv.URL, Message{ID: "msg_1", Body: []byte("{}"),
		Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}, time.Now())
	if res.StatusCode != http.StatusFound || res.OK() {
		t.Fatalf("redirect: %+v, want the 302 recorded as a failure", res)
	}
}

// A digest covers the last whole period: the previous UTC day, or the
// previous week from Monday to Monday, whatever the hour.
func TestDigestPeriodIsTheLastWholeDayOrWeek(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		freq, now, start, end string
	}{
		{DigestDaily, "2026-11-30T00:00:00Z", "2026-11-29", "2026-11-30"},
		{DigestDaily, "2026-11-30T23:59:59Z", "2026-11-29", "2026-11-30"},
		{DigestWeekly, "2026-11-30T08:00:00Z", "2026-11-23", "2026-11-30"}, // a Monday
		{DigestWeekly, "2026-12-06T23:00:00Z", "2026-11-23", "2026-11-30"}, // the Sunday after
		{DigestWeekly, "2026-12-07T00:00:00Z", "2026-11-30", "2026-12-07"},
	} {
		start, end := DigestPeriod(tc.freq, at(tc.now))
		if start.Format(time.DateOnly) != tc.start || end.Format(time.DateOnly) != tc.end {
			t.Errorf("%s at %s: [%s, %s), want [%s, %s)", tc.freq, tc.now, start.Format(time.DateOnly), end.Format(time.DateOnly), tc.start, tc.end)
		}
	}
}
