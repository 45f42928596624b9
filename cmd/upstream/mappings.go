package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/upstream-rcm/upstream/internal/ingest"
)

// MappingsCmd manages mappings.
type MappingsCmd struct {
	Load MappingsLoadCmd `cmd:"" help:"Replace a customer's payer and/or CPT group mappings from CSV files."`
}

// MappingsLoadCmd replaces mappings.
type MappingsLoadCmd struct {
	Customer   string `required:"" help:"Customer name."`
	CPTGroups  string `name:"cpt-groups" type:"existingfile" help:"CSV with header cpt,cpt_group."`
	Payers     string `type:"existingfile" help:"CSV with header raw_name,normalized_name."`
	Reclassify bool   `help:"Also re-apply the mappings to the claims already stored and rebuild the statistics, in the same transaction (fixes uploads made before the mappings)."`
	JSON       bool   `name:"json" help:"Print JSON."`
}

// Run replaces the mappings in one transaction.
func (c *MappingsLoadCmd) Run(ctx context.Context, e *env) error {
	if c.CPTGroups == "" && c.Payers == "" {
		return errors.New("nothing to load: give --cpt-groups FILE and/or --payers FILE")
	}
	pool, cust, err := e.openCustomer(ctx, c.Customer, 4)
	if err != nil {
		return err
	}
	defer pool.Close()
	var payers, groups io.Reader
	for _, f := range []struct {
		path string
		dst  *io.Reader
	}{{c.Payers, &payers}, {c.CPTGroups, &groups}} {
		if f.path == "" {
			continue
		}
		file, err := os.Open(f.path)
		if err != nil {
			return err
		}
		defer file.Close()
		*f.dst = file
	}
	var counts ingest.MappingCounts
	var res *ingest.Reclassified
	if c.Reclassify {
		flows, err := e.ingestFlows(pool)
		if err != nil {
			return err
		}
		counts, res, err = flows.ReplaceMappingsAndReclassify(ctx, cust.ID, payers, groups)
		if err != nil {
			return err
		}
	} else if counts, err = ingest.ReplaceMappings(ctx, pool, cust.ID, payers, groups); err != nil {
		return err
	}
	if c.JSON {
		return printJSON(map[string]any{"mappings": counts, "reclassified": res})
	}
	if res != nil {
		fmt.Printf("reclassified stored claims: %d renamed to a mapped payer, %d moved to another CPT group; statistics rebuilt; drift job %d (run `upstream worker` if none is running)\n",
			res.PayerClaims, res.GroupClaims, res.JobID)
	}
	if counts.Payers != nil {
		fmt.Printf("payer mappings: %d (replaced)\n", *counts.Payers)
	}
	if counts.CPTGroups != nil {
		fmt.Printf("CPT group mappings: %d (replaced)\n", *counts.CPTGroups)
	}
	return nil
}
