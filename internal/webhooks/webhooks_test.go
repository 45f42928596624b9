package webhooks

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
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
