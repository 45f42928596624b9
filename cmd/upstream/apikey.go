package main

import (
	"context"
	"fmt"
	"os"

	"github.com/upstream-rcm/upstream/internal/customers"
	"github.com/upstream-rcm/upstream/internal/db"
)

// APIKeyCmd manages API keys.
type APIKeyCmd struct {
	Create APIKeyCreateCmd `cmd:"" help:"Issue an API key for a customer (shown once)."`
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
	q := db.New(pool)
	key, err := customers.IssueAPIKey(ctx, q, cust.ID)
	if err != nil {
		return err
	}
	fmt.Println(key)
	fmt.Fprintf(os.Stderr, "API key for customer %q (id %d). It is shown only now: store it safely.\n", cust.Name, cust.ID)
	return nil
}
