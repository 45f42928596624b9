package main

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/upstream-rcm/upstream/internal/customers"
	"github.com/upstream-rcm/upstream/internal/store"
)

// APIKeyCmd manages API keys.
type APIKeyCmd struct {
	Create APIKeyCreateCmd `cmd:"" help:"Issue an API key for a customer (shown once)."`
	List   APIKeyListCmd   `cmd:"" help:"List a customer's keys by prefix."`
	Revoke APIKeyRevokeCmd `cmd:"" help:"Revoke a key by its prefix; it stops working at once."`
}

// APIKeyListCmd lists keys.
type APIKeyListCmd struct {
	Customer string `required:"" help:"Customer name."`
	JSON     bool   `name:"json" help:"Print JSON."`
}

// Run lists the keys.
func (c *APIKeyListCmd) Run(ctx context.Context, e *env) error {
	pool, cust, err := e.openCustomer(ctx, c.Customer, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	keys, err := allPages(func(after *customers.APIKeyView) ([]customers.APIKeyView, error) {
		var id int64
		if after != nil {
			id = after.ID
		}
		return customers.ListAPIKeys(ctx, store.New(pool), cust.ID, id, cliPageSize)
	})
	if err != nil {
		return err
	}
	if c.JSON {
		return printJSON(map[string]any{"api_keys": keys})
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PREFIX\tCREATED\tREVOKED")
	for _, k := range keys {
		revoked := "-"
		if k.RevokedAt != nil {
			revoked = k.RevokedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", k.Prefix, k.CreatedAt.UTC().Format(time.RFC3339), revoked)
	}
	return tw.Flush()
}

// APIKeyRevokeCmd revokes a key.
type APIKeyRevokeCmd struct {
	Customer string `required:"" help:"Customer name."`
	Prefix   string `arg:"" help:"The key's prefix (see 'apikey list')."`
}

// Run revokes the key.
func (c *APIKeyRevokeCmd) Run(ctx context.Context, e *env) error {
	pool, cust, err := e.openCustomer(ctx, c.Customer, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := customers.RevokeAPIKey(ctx, store.New(pool), cust.ID, c.Prefix); err != nil {
		return err
	}
	fmt.Printf("revoked API key %s of %s\n", c.Prefix, cust.Name)
	return nil
}

// APIKeyCreateCmd issues a key.
type APIKeyCreateCmd struct {
	Customer string `required:"" help:"Customer name."`
}

// Run issues and prints the key; only its hash is stored.
func (c *APIKeyCreateCmd) Run(ctx context.Context, e *env) error {
	pool, cust, err := e.openCustomer(ctx, c.Customer, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	q := store.New(pool)
	key, err := customers.IssueAPIKey(ctx, q, cust.ID)
	if err != nil {
		return err
	}
	fmt.Println(key)
	fmt.Fprintf(os.Stderr, "API key for customer %q (id %d). It is shown only now: store it safely.\n", cust.Name, cust.ID)
	return nil
}
