package main

import (
	"context"
	"fmt"

	"github.com/upstream-rcm/upstream/internal/customers"
	"github.com/upstream-rcm/upstream/internal/db"
)

// CustomerCmd manages customers.
type CustomerCmd struct {
	Create CustomerCreateCmd `cmd:"" help:"Create a customer."`
}

// CustomerCreateCmd creates a customer.
type CustomerCreateCmd struct {
	Name string `arg:"" help:"Customer name (unique)."`
	JSON bool   `name:"json" help:"Print JSON."`
}

// Run creates the customer.
func (c *CustomerCreateCmd) Run(ctx context.Context, e *env) error {
	pool, err := e.openPool(ctx, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	cust, err := customers.Create(ctx, db.New(pool), c.Name)
	if err != nil {
		return err
	}
	if c.JSON {
		return printJSON(map[string]any{"id": cust.ID, "name": cust.Name})
	}
	fmt.Printf("created customer %d %q\n", cust.ID, cust.Name)
	return nil
}
