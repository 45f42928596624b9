// Package webhooks notifies customers' endpoints of alerts: it validates
// endpoint URLs, builds the payload once per delivery, signs it the
// Standard Webhooks way and sends it through an HTTP client that refuses
// private destinations at connect time. It knows nothing of River: a
// worker in jobs/ calls Send and records the attempt.
package webhooks

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix starts every signing secret, as Standard Webhooks writes
// them.
const SecretPrefix = "whsec_"

// NewSecret returns a signing secret of 256 random bits.
func NewSecret() (string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("generate webhook secret: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(raw), nil
}

// NewMessageID returns a delivery's webhook-id: stable across its retries,
// so receivers can de-duplicate.
func NewMessageID() (string, error) {
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("generate message id: %w", err)
	}
	return "msg_" + base64.RawURLEncoding.EncodeToString(raw), nil
}

// ErrInvalidSecret is returned for a secret that is not whsec_ + base64.
var ErrInvalidSecret = errors.New("invalid webhook secret")

// Sign returns the signature of one message: "v1," + base64 of
// HMAC-SHA256(key, id + "." + unix timestamp + "." + body), the key being
// the secret's base64 part decoded.
func Sign(secret, messageID string, timestamp time.Time, body []byte) (string, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil || !strings.HasPrefix(secret, SecretPrefix) || len(key) == 0 {
		return "", ErrInvalidSecret
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(messageID))
	mac.Write([]byte{'.'})
	mac.Write([]byte(strconv.FormatInt(timestamp.Unix(), 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

// SignatureHeader signs with every valid secret (the current one, and the
// previous one during a rotation's grace period), space-separated as
// Standard Webhooks allows.
func SignatureHeader(secrets []string, messageID string, timestamp time.Time, body []byte) (string, error) {
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		sig, err := Sign(s, messageID, timestamp, body)
		if err != nil {
			return "", err
		}
		sigs = append(sigs, sig)
	}
	return strings.Join(sigs, " "), nil
}
