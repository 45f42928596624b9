package webhooks_test

import (
	"context"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/secrets"
	"github.com/upstream-rcm/upstream/internal/store"
	"github.com/upstream-rcm/upstream/internal/testdb"
	"github.com/upstream-rcm/upstream/internal/testfactory"
	"github.com/upstream-rcm/upstream/internal/webhooks"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

func newCustomer(t *testing.T, pool *pgxpool.Pool, name string) int64 {
	t.Helper()
	var id int64
	if err := pool.QueryRow(context.Background(), `INSERT INTO customers (name) VALUES ($1) RETURNING id`, name).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// signing returns the secrets a delivery to the endpoint would be signed
// with now.
func signing(t *testing.T, pool *pgxpool.Pool, kr *secrets.Keyring, customerID, id int64) ([]string, error) {
	t.Helper()
	return webhooks.SigningSecrets(kr, storedOf(t, pool, customerID, id), time.Now())
}

// assertNowhereInPlaintext reads every row of every table, River's
// included, as text and looks for each secret: whole, its key part, and
// as the hex a bytea column would print.
func assertNowhereInPlaintext(t *testing.T, pool *pgxpool.Pool, shown []string) {
	t.Helper()
	for where, n := range plaintextRows(t, pool, shown) {
		t.Errorf("%d secrets appear in plaintext in %s", n, where)
	}
}

// plaintextRows counts, per table, the secrets found in its rows.
func plaintextRows(t *testing.T, pool *pgxpool.Pool, shown []string) map[string]int {
	t.Helper()
	found := map[string]int{}
	ctx := context.Background()
	rows, err := pool.Query(ctx, `SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM information_schema.tables
		WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) < 10 {
		t.Fatalf("found %d tables, expected the whole schema", len(tables))
	}
	keys, hexes := make([]string, len(shown)), make([]string, len(shown))
	for i, s := range shown {
		keys[i] = strings.TrimPrefix(s, webhooks.SecretPrefix)
		hexes[i] = hex.EncodeToString([]byte(keys[i]))
	}
	for _, table := range tables {
		var n int
		err := pool.QueryRow(ctx, `SELECT count(DISTINCT s.i) FROM `+table+` t, unnest($1::text[], $2::text[]) WITH ORDINALITY AS s(k, h, i)
			WHERE strpos(t::text, s.k) > 0 OR strpos(t::text, s.h) > 0`, keys, hexes).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			found[table] = n
		}
	}
	return found
}

// Secrets shown at creation and rotation sign deliveries, and no table
// holds any of them in plaintext.
func TestNoWebhookSecretIsStoredInPlaintext(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	kr := testfactory.Keyring(t)
	q := store.New(pool)
	cust := newCustomer(t, pool, "acme")
	var shown []string
	var eps []db.WebhookEndpoint
	for _, url := range []string{"https://a.example.com/h", "https://b.example.com/h"} {
		ep, secret, err := webhooks.CreateEndpoint(ctx, q, kr, webhooks.Guard{AllowPrivate: true}, cust, webhooks.EndpointSpec{URL: url})
		if err != nil {
			t.Fatal(err)
		}
		shown, eps = append(shown, secret), append(eps, ep)
	}
	_, rotated, err := webhooks.RotateSecret(ctx, q, kr, cust, eps[0].ID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	shown = append(shown, rotated)
	if _, err := webhooks.CreateTestDelivery(ctx, q, db.Customer{ID: cust, Name: "acme"}, eps[0], time.Now()); err != nil {
		t.Fatal(err)
	}
	got, err := signing(t, pool, kr, cust, eps[0].ID)
	if err != nil || len(got) != 2 || got[0] != rotated || got[1] != shown[0] {
		t.Fatalf("rotated endpoint signs with %d secrets (%v), want the new one, then the previous one", len(got), err)
	}
	if got, err := signing(t, pool, kr, cust, eps[1].ID); err != nil || len(got) != 1 || got[0] != shown[1] {
		t.Fatalf("second endpoint signs with %d secrets (%v), want the one shown", len(got), err)
	}
	assertNowhereInPlaintext(t, pool, shown)

	// Without the key nothing opens, and nothing is created.
	if _, err := signing(t, pool, nil, cust, eps[1].ID); !errors.Is(err, webhooks.ErrNoSecretKey) {
		t.Fatalf("no key: %v, want ErrNoSecretKey", err)
	}
	if _, _, err := webhooks.CreateEndpoint(ctx, q, nil, webhooks.Guard{AllowPrivate: true}, cust, webhooks.EndpointSpec{URL: "https://c.example.com/"}); !errors.Is(err, webhooks.ErrNoSecretKey) {
		t.Fatalf("create without a key: %v, want ErrNoSecretKey", err)
	}
	// A sealed secret copied to another customer's endpoint does not open.
	other := newCustomer(t, pool, "globex")
	ep, _, err := webhooks.CreateEndpoint(ctx, q, kr, webhooks.Guard{AllowPrivate: true}, other, webhooks.EndpointSpec{URL: "https://d.example.com/"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE webhook_endpoints o SET secret_sealed = a.secret_sealed FROM webhook_endpoints a WHERE o.id = $1 AND a.id = $2`,
		ep.ID, eps[1].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := signing(t, pool, kr, other, ep.ID); !errors.Is(err, secrets.ErrTampered) {
		t.Fatalf("moved secret: %v, want ErrTampered", err)
	}
}

// Endpoints stored before secrets were sealed (plaintext, schema 0022)
// are sealed by SealSecrets, racing copies of it included, and sign with
// the same secrets after. Rotating the server key: the new key seals, the
// old one still opens until `secrets reencrypt` (allKeys) reseals them.
func TestPlaintextSecretsAreSealedAndTheServerKeyRotates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	cust := newCustomer(t, pool, "acme")
	const n = 450 // more than one batch
	var legacy []string
	for i := range n {
		secret, err := webhooks.NewSecret()
		if err != nil {
			t.Fatal(err)
		}
		prev, expires := (*string)(nil), (*time.Time)(nil)
		if i%3 == 0 {
			p, _ := webhooks.NewSecret()
			e := time.Now().Add(time.Hour)
			prev, expires = &p, &e
		}
		if _, err := pool.Exec(ctx, `INSERT INTO webhook_endpoints (customer_id, url, secret, previous_secret, previous_secret_expires_at)
			VALUES ($1, 'https://x.example.com/', $2, $3, $4)`, cust, secret, prev, expires); err != nil {
			t.Fatal(err)
		}
		legacy = append(legacy, secret)
		if prev != nil {
			legacy = append(legacy, *prev)
		}
	}
	ids := func() []int64 {
		rows, _ := pool.Query(ctx, `SELECT id FROM webhook_endpoints ORDER BY id`)
		out, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			t.Fatal(err)
		}
		return out
	}()
	before := map[int64][]string{}
	for _, id := range ids {
		s, err := signing(t, pool, nil, cust, id)
		if err != nil {
			t.Fatal(err)
		}
		before[id] = s
	}

	// The search finds them while they are plaintext.
	if found := plaintextRows(t, pool, legacy); found["public.webhook_endpoints"] != len(legacy) {
		t.Fatalf("found %v of %d plaintext secrets before sealing", found, len(legacy))
	}
	old := testfactory.Keyring(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	sealed := 0
	for range 4 {
		wg.Go(func() {
			k, err := webhooks.SealSecrets(ctx, pool, old, false)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			sealed += k
			mu.Unlock()
		})
	}
	wg.Wait()
	if sealed != n {
		t.Fatalf("racing sealers changed %d endpoints, want each of %d once", sealed, n)
	}
	assertNowhereInPlaintext(t, pool, legacy)
	check := func(kr *secrets.Keyring) {
		t.Helper()
		for _, id := range ids {
			got, err := signing(t, pool, kr, cust, id)
			if err != nil || strings.Join(got, " ") != strings.Join(before[id], " ") {
				t.Fatalf("endpoint %d signs with %d secrets (%v), want its %d from before", id, len(got), err, len(before[id]))
			}
		}
	}
	check(old)

	// A new key first, the old one after it: new secrets are sealed by the
	// new key, old ones still open; only reencrypt reseals them.
	newOnly := testfactory.Keyring(t)
	rotated, err := secrets.NewKeyring(append(newOnly.Keys(), old.Keys()...)...)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := webhooks.SealSecrets(ctx, pool, rotated, false); err != nil || k != 0 {
		t.Fatalf("sealing plaintext again changed %d (%v), want 0", k, err)
	}
	check(rotated)
	if _, err := signing(t, pool, newOnly, cust, ids[0]); !errors.Is(err, secrets.ErrUnknownKey) {
		t.Fatalf("new key alone before reencrypt: %v, want ErrUnknownKey", err)
	}
	if k, err := webhooks.SealSecrets(ctx, pool, rotated, true); err != nil || k != n {
		t.Fatalf("reencrypt changed %d (%v), want %d", k, err, n)
	}
	check(newOnly)
	var stale int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM webhook_endpoints WHERE secret_key_id <> $1 OR previous_secret_key_id <> $1`,
		newOnly.CurrentID()).Scan(&stale); err != nil || stale != 0 {
		t.Fatalf("%d endpoints sealed by another key after reencrypt (%v)", stale, err)
	}
	// With only the old key, reencrypt stops and names an endpoint.
	if _, err := webhooks.SealSecrets(ctx, pool, old, true); !errors.Is(err, secrets.ErrUnknownKey) || !strings.Contains(err.Error(), "webhook endpoint") {
		t.Fatalf("reencrypt without the key that sealed: %v", err)
	}
}

func storedOf(t *testing.T, pool *pgxpool.Pool, customerID, id int64) webhooks.StoredSecrets {
	t.Helper()
	ep, err := store.New(pool).WebhookEndpointGetByID(context.Background(), db.WebhookEndpointGetByIDParams{CustomerID: customerID, ID: id})
	if err != nil {
		t.Fatal(err)
	}
	return webhooks.StoredSecrets{CustomerID: ep.CustomerID, Secret: ep.Secret, KeyID: ep.SecretKeyID,
		Sealed: ep.SecretSealed, PreviousSecret: ep.PreviousSecret, PreviousKeyID: ep.PreviousSecretKeyID,
		PreviousSealed: ep.PreviousSecretSealed, PreviousExpiresAt: ep.PreviousSecretExpiresAt}
}
