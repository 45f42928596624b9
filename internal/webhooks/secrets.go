package webhooks

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/secrets"
	"github.com/upstream-rcm/upstream/internal/store"
)

// ErrNoSecretKey is returned when a secret must be sealed or opened and
// no server key is configured.
var ErrNoSecretKey = errors.New("no server key to seal webhook secrets: set " + secrets.EnvVar +
	" (e.g. `openssl rand -base64 32`); the private cluster keeps one beside its data directory")

// secretAAD binds a sealed secret to its customer: copied into another
// customer's endpoint, it does not open. The current and previous secrets
// share it, since a rotation moves the sealed value as it is.
func secretAAD(customerID int64) []byte {
	return []byte("upstream webhook secret, customer " + strconv.FormatInt(customerID, 10))
}

func sealSecret(kr *secrets.Keyring, customerID int64, secret string) (keyID string, sealed []byte, err error) {
	if kr == nil {
		return "", nil, ErrNoSecretKey
	}
	return kr.Seal([]byte(secret), secretAAD(customerID))
}

func openSecret(kr *secrets.Keyring, customerID int64, plaintext, keyID *string, sealed []byte) (string, error) {
	switch {
	case plaintext != nil:
		return *plaintext, nil // written before 0023, until SealSecrets runs
	case keyID == nil:
		return "", nil
	case kr == nil:
		return "", ErrNoSecretKey
	}
	b, err := kr.Open(*keyID, sealed, secretAAD(customerID))
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// StoredSecrets is an endpoint's secrets as the database holds them.
type StoredSecrets struct {
	CustomerID                    int64
	Secret, KeyID                 *string
	Sealed                        []byte
	PreviousSecret, PreviousKeyID *string
	PreviousSealed                []byte
	PreviousExpiresAt             *time.Time
}

// SigningSecrets opens the secrets a message is signed with: the current
// one, and the previous one until its grace period ends.
func SigningSecrets(kr *secrets.Keyring, s StoredSecrets, now time.Time) ([]string, error) {
	cur, err := openSecret(kr, s.CustomerID, s.Secret, s.KeyID, s.Sealed)
	if err != nil {
		return nil, fmt.Errorf("open the signing secret: %w", err)
	}
	out := []string{cur}
	if s.PreviousExpiresAt == nil || !s.PreviousExpiresAt.After(now) {
		return out, nil
	}
	prev, err := openSecret(kr, s.CustomerID, s.PreviousSecret, s.PreviousKeyID, s.PreviousSealed)
	if err != nil {
		return nil, fmt.Errorf("open the previous signing secret: %w", err)
	}
	if prev != "" {
		out = append(out, prev)
	}
	return out, nil
}

// Beginner starts transactions: a pool.
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// sealBatch is how many endpoints one transaction of SealSecrets reseals.
const sealBatch = 200

// SealSecrets seals every endpoint secret still in plaintext and, with
// allKeys, reseals those sealed by another key than the keyring's current
// one (after a key rotation), in batches that each commit. It returns how
// many endpoints it changed. A secret sealed by a key the keyring does not
// hold stops it with an error naming the endpoint; what it had done stays.
// Every command seals plaintext when it opens the database; resealing is
// `upstream secrets reencrypt`, run once every process has the new key
// (a process with only the old key cannot open what the new one sealed).
func SealSecrets(ctx context.Context, pool Beginner, kr *secrets.Keyring, allKeys bool) (int, error) {
	if kr == nil {
		return 0, ErrNoSecretKey
	}
	total, after := 0, int64(0)
	for {
		n, last, err := sealBatchTx(ctx, pool, kr, allKeys, after)
		total += n
		if err != nil || last == 0 {
			return total, err
		}
		after = last
	}
}

func sealBatchTx(ctx context.Context, pool Beginner, kr *secrets.Keyring, allKeys bool, after int64) (n int, last int64, err error) {
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		q := store.New(tx)
		eps, err := q.WebhookEndpointListToSeal(ctx, db.WebhookEndpointListToSealParams{After: after, AllKeys: allKeys, KeyID: kr.CurrentID(), MaxRows: sealBatch})
		if err != nil {
			return fmt.Errorf("list webhook secrets to seal: %w", err)
		}
		for _, ep := range eps {
			cur, err := openSecret(kr, ep.CustomerID, ep.Secret, ep.SecretKeyID, ep.SecretSealed)
			if err != nil {
				return fmt.Errorf("webhook endpoint %d: %w", ep.ID, err)
			}
			p := db.WebhookEndpointSealParams{CustomerID: ep.CustomerID, ID: ep.ID}
			keyID, sealed, err := sealSecret(kr, ep.CustomerID, cur)
			if err != nil {
				return err
			}
			p.SecretKeyID, p.SecretSealed = &keyID, sealed
			prev, err := openSecret(kr, ep.CustomerID, ep.PreviousSecret, ep.PreviousSecretKeyID, ep.PreviousSecretSealed)
			if err != nil {
				return fmt.Errorf("webhook endpoint %d, previous secret: %w", ep.ID, err)
			}
			if prev != "" {
				keyID, sealed, err := sealSecret(kr, ep.CustomerID, prev)
				if err != nil {
					return err
				}
				p.PreviousSecretKeyID, p.PreviousSecretSealed = &keyID, sealed
			}
			if err := q.WebhookEndpointSeal(ctx, p); err != nil {
				return fmt.Errorf("seal webhook endpoint %d: %w", ep.ID, err)
			}
		}
		n = len(eps)
		if n == sealBatch {
			last = eps[n-1].ID
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	return n, last, nil
}
