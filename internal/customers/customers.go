// Package customers manages tenants: each customer's claims, mappings and
// results are separate from every other customer's.
package customers

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/names"
	"github.com/upstream-rcm/upstream/internal/store"
)

// ErrExists is returned when creating a customer whose name is taken,
// whatever its case.
var ErrExists = errors.New("a customer with this name (in any case) already exists")

// ErrNotFound is returned for an unknown customer.
var ErrNotFound = errors.New("customer not found")

// Create creates a customer named name (trimmed, non-empty, valid text,
// at most MaxNameLength bytes). A name that differs from an existing one
// only by case is taken: commands find customers by name whatever its case.
func Create(ctx context.Context, pool *pgxpool.Pool, name string) (db.Customer, error) {
	name = strings.TrimSpace(name)
	if err := ValidateName(name); err != nil {
		return db.Customer{}, err
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return db.Customer{}, fmt.Errorf("begin customer creation: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	q := store.New(tx)
	// The unique constraint compares exact names; creators of names equal
	// but for case serialize on this lock, so the check below is not racy.
	if err := q.CustomerLockName(ctx, strings.ToLower(name)); err != nil {
		return db.Customer{}, fmt.Errorf("lock customer name: %w", err)
	}
	existing, err := q.CustomerGetByNameFold(ctx, name)
	if err != nil {
		return db.Customer{}, fmt.Errorf("look up customer %q: %w", name, err)
	}
	if len(existing) > 0 {
		return db.Customer{}, fmt.Errorf("create customer %q: %w (%q)", name, ErrExists, existing[0].Name)
	}
	c, err := q.CustomerCreate(ctx, name)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == pgerrcode.UniqueViolation {
		return db.Customer{}, fmt.Errorf("create customer %q: %w", name, ErrExists)
	}
	if err != nil {
		return db.Customer{}, fmt.Errorf("create customer %q: %w", name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return db.Customer{}, fmt.Errorf("commit customer %q: %w", name, err)
	}
	return c, nil
}

// MaxNameLength bounds a customer name, in bytes.
const MaxNameLength = 200

// NameError is a customer name that cannot be stored.
type NameError struct{ Message string }

func (e *NameError) Error() string { return "customer name " + e.Message }

// ValidateName checks a (trimmed) customer name.
func ValidateName(name string) error {
	switch {
	case name == "":
		return &NameError{"must not be empty"}
	case strings.IndexByte(name, 0) >= 0:
		return &NameError{"contains a NUL byte"}
	case !utf8.ValidString(name):
		return &NameError{"is not valid UTF-8"}
	case len(name) > MaxNameLength:
		return &NameError{fmt.Sprintf("is %d bytes long, more than %d", len(name), MaxNameLength)}
	}
	return nil
}

// ByName returns the customer named name, ignoring case. When none
// matches, the error suggests the closest existing name.
func ByName(ctx context.Context, q *db.Queries, name string) (db.Customer, error) {
	name = strings.TrimSpace(name)
	matches, err := q.CustomerGetByNameFold(ctx, name)
	if err != nil {
		return db.Customer{}, fmt.Errorf("look up customer %q: %w", name, err)
	}
	switch {
	case len(matches) == 1, len(matches) > 1 && matches[0].Name == name:
		return matches[0], nil // the exact spelling first when two differ only in case
	case len(matches) > 1:
		// Only customers created before names were unique regardless of
		// case can be ambiguous; never pick one of them silently.
		return db.Customer{}, fmt.Errorf("customer %q matches %q and %q, which differ only by case: give the exact name", name, matches[0].Name, matches[1].Name)
	}
	hint := "create it with `upstream customer create`, or see `upstream customer list`"
	all, err := q.CustomerListNames(ctx, maxNamesCompared)
	if err == nil {
		if near := names.Similar(all, name, 1); len(near) > 0 {
			hint = fmt.Sprintf("did you mean %q?", near[0])
		}
	}
	return db.Customer{}, fmt.Errorf("customer %q: %w (%s)", name, ErrNotFound, hint)
}

// maxNamesCompared bounds the names a lookup compares for a suggestion.
const maxNamesCompared = 10000

// ByID returns the customer with id.
func ByID(ctx context.Context, q *db.Queries, id int64) (db.Customer, error) {
	c, err := q.CustomerGetByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return db.Customer{}, fmt.Errorf("customer %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return db.Customer{}, fmt.Errorf("look up customer %d: %w", id, err)
	}
	return c, nil
}

// Delete removes a customer with everything it owns (uploads, claims,
// statistics, mappings, keys, runs and events) in one statement, by the
// schema's cascades. Deleting the row takes its FOR UPDATE lock, so it waits
// for a running computation (FOR NO KEY UPDATE) and for uploads in flight
// (FOR KEY SHARE). Jobs already queued for it find no customer and are
// cancelled.
func Delete(ctx context.Context, q *db.Queries, id int64) error {
	if err := q.CustomerDelete(ctx, id); err != nil {
		return fmt.Errorf("delete customer %d: %w", id, err)
	}
	return nil
}

// APIKeyPrefix starts every customer API key, so leaked keys are
// recognizable.
const APIKeyPrefix = "upk_"

// ErrInvalidAPIKey is returned for an unknown or revoked key.
var ErrInvalidAPIKey = errors.New("invalid API key")

// IssueAPIKey creates a key for the customer from a CSPRNG and returns it;
// only its SHA-256 is stored, so it cannot be shown again.
func IssueAPIKey(ctx context.Context, q *db.Queries, customerID int64) (string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("generate API key: %w", err)
	}
	key := APIKeyPrefix + base64.RawURLEncoding.EncodeToString(raw)
	sum := sha256.Sum256([]byte(key))
	if _, err := q.APIKeyCreate(ctx, db.APIKeyCreateParams{CustomerID: customerID, KeySHA256: sum[:], KeyPrefix: KeyPrefix(key)}); err != nil {
		return "", fmt.Errorf("store API key for customer %d: %w", customerID, err)
	}
	return key, nil
}

// KeyPrefix is the part of a key that may be shown and logged: enough to
// tell keys apart, far too little to use.
func KeyPrefix(key string) string {
	return key[:min(len(key), len(APIKeyPrefix)+6)]
}

// CustomerForAPIKey returns the customer a key belongs to.
func CustomerForAPIKey(ctx context.Context, q *db.Queries, key string) (int64, error) {
	if !strings.HasPrefix(key, APIKeyPrefix) {
		return 0, ErrInvalidAPIKey
	}
	sum := sha256.Sum256([]byte(key))
	k, err := q.APIKeyGetByHash(ctx, sum[:])
	if errors.Is(err, store.ErrNotFound) {
		return 0, ErrInvalidAPIKey
	}
	if err != nil {
		return 0, fmt.Errorf("look up API key: %w", err)
	}
	// The lookup was by hash; comparing again in constant time keeps the
	// check independent of how the index compares.
	if subtle.ConstantTimeCompare(k.KeySHA256, sum[:]) != 1 {
		return 0, ErrInvalidAPIKey
	}
	return k.CustomerID, nil
}

// APIKeyView is a key as it may be shown: its prefix, never the key.
type APIKeyView struct {
	ID        int64      `json:"-"` // the page cursor's
	Prefix    string     `json:"prefix"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at"`
}

// ListAPIKeys returns a page of the customer's keys, oldest first: at
// most limit, after the key with id after (0: from the first).
func ListAPIKeys(ctx context.Context, q *db.Queries, customerID, after int64, limit int) ([]APIKeyView, error) {
	rows, err := q.APIKeyListByCustomer(ctx, db.APIKeyListByCustomerParams{CustomerID: customerID, After: after, MaxRows: int32(limit)})
	if err != nil {
		return nil, fmt.Errorf("list API keys: %w", err)
	}
	out := make([]APIKeyView, len(rows))
	for i, r := range rows {
		out[i] = APIKeyView{ID: r.ID, Prefix: r.KeyPrefix, CreatedAt: r.CreatedAt, RevokedAt: r.RevokedAt}
	}
	return out, nil
}

// ErrAPIKeyNotFound is returned when no active key has the prefix.
var ErrAPIKeyNotFound = errors.New("no active API key with this prefix")

// RevokeAPIKey revokes the customer's active key with prefix: it stops
// working at once.
func RevokeAPIKey(ctx context.Context, q *db.Queries, customerID int64, prefix string) error {
	n, err := q.APIKeyRevoke(ctx, db.APIKeyRevokeParams{CustomerID: customerID, KeyPrefix: prefix})
	if err != nil {
		return fmt.Errorf("revoke API key: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("key %s: %w", prefix, ErrAPIKeyNotFound)
	}
	return nil
}
