package webhooks

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// Headers of a Standard Webhooks delivery.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// MaxResponseRecorded bounds the response body kept with an attempt.
const MaxResponseRecorded = 1024

// Message is one delivery: the same id and body on every attempt.
type Message struct {
	ID      string
	Body    []byte
	Secrets []string // the current secret, and the previous one during a rotation
}

// Result is what one attempt got.
type Result struct {
	StatusCode int // 0 when no response arrived
	Latency    time.Duration
	Err        error  // transport error (refused, timeout, forbidden destination)
	Response   string // the start of the response body
}

// OK reports a 2xx response.
func (r Result) OK() bool { return r.Err == nil && r.StatusCode >= 200 && r.StatusCode < 300 }

// Sender posts messages.
type Sender struct {
	client *http.Client
}

// NewSender returns a sender whose connections pass guard at connect time,
// that follows no redirects and uses no proxy (either could reach an
// address the guard refuses), and gives up on an attempt after timeout.
func NewSender(guard Guard, timeout time.Duration) *Sender {
	dialer := &net.Dialer{Timeout: timeout, Control: guard.control}
	transport := &http.Transport{
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       time.Minute,
	}
	return &Sender{client: &http.Client{
		Transport:     transport,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// Send posts msg to url, signed as of now.
func (s *Sender) Send(ctx context.Context, url string, msg Message, now time.Time) Result {
	start := time.Now()
	res := s.send(ctx, url, msg, now)
	res.Latency = time.Since(start)
	return res
}

func (s *Sender) send(ctx context.Context, url string, msg Message, now time.Time) Result {
	sig, err := SignatureHeader(msg.Secrets, msg.ID, now, msg.Body)
	if err != nil {
		return Result{Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(msg.Body))
	if err != nil {
		return Result{Err: fmt.Errorf("build request: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "upstream-webhooks/1")
	req.Header.Set(HeaderID, msg.ID)
	req.Header.Set(HeaderTimestamp, fmt.Sprint(now.Unix()))
	req.Header.Set(HeaderSignature, sig)
	resp, err := s.client.Do(req)
	if err != nil {
		return Result{Err: err}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, MaxResponseRecorded))
	// Drain a little more so the connection can be reused; no more.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return Result{StatusCode: resp.StatusCode, Response: string(bytes.ToValidUTF8(body, []byte("?")))}
}
