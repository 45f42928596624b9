package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/upstream-rcm/upstream/internal/secrets"
	"github.com/upstream-rcm/upstream/internal/store"
	"github.com/upstream-rcm/upstream/internal/webhooks"
	"github.com/upstream-rcm/upstream/jobs"
)

// WebhookCmd groups the webhook commands.
type WebhookCmd struct {
	Create     WebhookCreateCmd     `cmd:"" help:"Register an endpoint; prints its signing secret once."`
	List       WebhookListCmd       `cmd:"" help:"List a customer's endpoints."`
	Rotate     WebhookRotateCmd     `cmd:"" help:"Give an endpoint a new secret; the old one keeps signing beside it for 24 hours."`
	Disable    WebhookDisableCmd    `cmd:"" help:"Stop delivering to an endpoint."`
	Enable     WebhookEnableCmd     `cmd:"" help:"Deliver to a disabled endpoint again."`
	Delete     WebhookDeleteCmd     `cmd:"" help:"Delete an endpoint with its deliveries."`
	Test       WebhookTestCmd       `cmd:"" help:"Send a test delivery (a worker must be running)."`
	Deliveries WebhookDeliveriesCmd `cmd:"" help:"An endpoint's latest deliveries and every attempt."`
}

// webhookTarget names one endpoint of a customer.
type webhookTarget struct {
	Customer string `required:"" help:"Customer name."`
	ID       int64  `required:"" name:"id" help:"Endpoint ID (see 'webhook list')."`
}

// WebhookCreateCmd registers an endpoint.
type WebhookCreateCmd struct {
	Customer    string  `required:"" help:"Customer name."`
	URL         string  `required:"" name:"url" help:"Where to POST alerts (http or https)."`
	Format      string  `default:"standard" enum:"standard,slack" help:"standard (JSON, Standard Webhooks) or slack (a Slack incoming webhook's text)."`
	MinSeverity float64 `name:"min-severity" default:"0" help:"Only alerts at least this severe (0 to 1)."`
	Digest      string  `enum:",daily,weekly" default:"" help:"Send the period's alert changes in one message, daily or weekly, instead of one message each."`
	RepeatAfter int     `name:"repeat-after-days" default:"0" help:"Remind of an episode still open and unacknowledged this many days (1 to 90) after its last message; 0: never."`
	JSON        bool    `name:"json" help:"Print JSON."`
}

// Run creates the endpoint.
func (c *WebhookCreateCmd) Run(ctx context.Context, e *env) error {
	pool, cust, err := e.openCustomer(ctx, c.Customer, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	kr, err := e.keyring()
	if err != nil {
		return err
	}
	ep, secret, err := webhooks.CreateEndpoint(ctx, store.New(pool), kr, e.webhookGuard(), cust.ID,
		webhooks.EndpointSpec{URL: c.URL, Format: c.Format, MinSeverity: c.MinSeverity, RepeatAfterDays: c.RepeatAfter, Digest: c.Digest})
	if err != nil {
		return webhookURLError(c.URL, err)
	}
	view := webhooks.ViewEndpoint(ep)
	view.Secret = secret
	if c.JSON {
		return printJSON(view)
	}
	fmt.Printf("webhook endpoint %d for %s: %s (%s, min severity %g)\n", ep.ID, cust.Name, ep.URL, ep.Format, ep.MinSeverity)
	fmt.Printf("signing secret (shown once; verify deliveries with it): %s\n", secret)
	return nil
}

// WebhookListCmd lists endpoints.
type WebhookListCmd struct {
	Customer string `required:"" help:"Customer name."`
	JSON     bool   `name:"json" help:"Print JSON."`
}

// Run lists the endpoints.
func (c *WebhookListCmd) Run(ctx context.Context, e *env) error {
	pool, cust, err := e.openCustomer(ctx, c.Customer, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	eps, err := store.New(pool).WebhookEndpointListByCustomer(ctx, cust.ID)
	if err != nil {
		return err
	}
	views := make([]webhooks.EndpointView, len(eps))
	for i, ep := range eps {
		views[i] = webhooks.ViewEndpoint(ep)
	}
	if c.JSON {
		return printJSON(map[string]any{"webhooks": views})
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tURL\tFORMAT\tMIN SEVERITY\tENABLED\tCREATED")
	for _, v := range views {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%g\t%t\t%s\n", v.ID, v.URL, v.Format, v.MinSeverity, v.Enabled, v.CreatedAt.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

// WebhookRotateCmd rotates a secret.
type WebhookRotateCmd struct{ webhookTarget }

// Run rotates the secret and prints the new one.
func (c *WebhookRotateCmd) Run(ctx context.Context, e *env) error {
	pool, cust, err := e.openCustomer(ctx, c.Customer, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	kr, err := e.keyring()
	if err != nil {
		return err
	}
	ep, secret, err := webhooks.RotateSecret(ctx, store.New(pool), kr, cust.ID, c.ID, time.Now())
	if err != nil {
		return err
	}
	fmt.Printf("new signing secret (shown once): %s\nthe previous secret keeps signing until %s\n", secret, ep.PreviousSecretExpiresAt.UTC().Format(time.RFC3339))
	return nil
}

// WebhookDisableCmd disables an endpoint.
type WebhookDisableCmd struct{ webhookTarget }

// Run disables it.
func (c *WebhookDisableCmd) Run(ctx context.Context, e *env) error {
	return c.setEnabled(ctx, e, false)
}

// WebhookEnableCmd enables an endpoint.
type WebhookEnableCmd struct{ webhookTarget }

// Run enables it.
func (c *WebhookEnableCmd) Run(ctx context.Context, e *env) error { return c.setEnabled(ctx, e, true) }

func (c *webhookTarget) setEnabled(ctx context.Context, e *env, enabled bool) error {
	pool, cust, err := e.openCustomer(ctx, c.Customer, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	ep, err := webhooks.SetEnabled(ctx, store.New(pool), cust.ID, c.ID, enabled)
	if err != nil {
		return err
	}
	fmt.Printf("webhook endpoint %d: enabled %t\n", ep.ID, ep.Enabled)
	return nil
}

// WebhookDeleteCmd deletes an endpoint.
type WebhookDeleteCmd struct{ webhookTarget }

// Run deletes it.
func (c *WebhookDeleteCmd) Run(ctx context.Context, e *env) error {
	pool, cust, err := e.openCustomer(ctx, c.Customer, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := webhooks.DeleteEndpoint(ctx, store.New(pool), cust.ID, c.ID); err != nil {
		return err
	}
	fmt.Printf("webhook endpoint %d deleted\n", c.ID)
	return nil
}

// WebhookTestCmd sends a test delivery.
type WebhookTestCmd struct{ webhookTarget }

// Run enqueues a test delivery in one transaction with its job.
func (c *WebhookTestCmd) Run(ctx context.Context, e *env) error {
	pool, cust, err := e.openCustomer(ctx, c.Customer, 4)
	if err != nil {
		return err
	}
	defer pool.Close()
	client, err := e.riverClient(pool, nil)
	if err != nil {
		return err
	}
	sent, err := webhooks.SendTest(ctx, pool, jobs.NewEnqueuer(client), cust, c.ID, time.Now())
	if err != nil {
		return err
	}
	fmt.Printf("test delivery %d enqueued; a worker (`upstream worker` or `serve`) sends it; see `upstream webhook deliveries --customer %s --id %d`\n",
		sent.DeliveryID, cust.Name, sent.EndpointID)
	return nil
}

// WebhookDeliveriesCmd shows deliveries.
type WebhookDeliveriesCmd struct {
	webhookTarget
	Limit int  `default:"20" help:"How many deliveries (at most 200)."`
	JSON  bool `name:"json" help:"Print JSON."`
}

// Run prints the endpoint's deliveries and their attempts.
func (c *WebhookDeliveriesCmd) Run(ctx context.Context, e *env) error {
	pool, cust, err := e.openCustomer(ctx, c.Customer, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	deliveries, err := webhooks.ListDeliveries(ctx, store.New(pool), cust.ID, c.ID, 0, c.Limit)
	if err != nil {
		return err
	}
	if c.JSON {
		return printJSON(map[string]any{"deliveries": deliveries})
	}
	if len(deliveries) == 0 {
		fmt.Println("no deliveries yet")
		return nil
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DELIVERY\tRUN\tWEBHOOK-ID\tSTATUS\tATTEMPT AT\tHTTP\tLATENCY\tERROR")
	for _, d := range deliveries {
		run := "test"
		if d.ReportRunID != nil {
			run = fmt.Sprint(*d.ReportRunID)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t\t\t\t\n", d.ID, run, d.MessageID, d.Status)
		for _, a := range d.Attempts {
			fmt.Fprintf(tw, "\t\t\t\t%s\t%s\t%dms\t%s\n", a.At.UTC().Format(time.RFC3339), orDash(a.StatusCode, ""), a.LatencyMs, orDash(a.Error, ""))
		}
	}
	return tw.Flush()
}

// webhookURLError says why an endpoint URL was refused and, for a private
// destination, how the operator allows one.
func webhookURLError(url string, err error) error {
	if errors.Is(err, webhooks.ErrForbiddenDestination) {
		return fmt.Errorf("--url %s: %w; to deliver to such addresses (an on-premise receiver), run every process that delivers "+
			"(serve, worker, and this command) with --allow-private-webhooks or UPSTREAM_ALLOW_PRIVATE_WEBHOOKS=true", url, err)
	}
	if errors.Is(err, webhooks.ErrNoSecretKey) {
		return err // not the URL's fault
	}
	return fmt.Errorf("--url %s: %w", url, err)
}

// SecretsCmd manages the server key that seals webhook secrets.
type SecretsCmd struct {
	Reencrypt SecretsReencryptCmd `cmd:"" help:"Reseal every webhook secret with the first key of UPSTREAM_SECRET_KEY (after a rotation; the old keys stay listed after it until this ran)."`
}

// SecretsReencryptCmd reseals every secret with the current key.
type SecretsReencryptCmd struct{}

// Run reseals them.
func (c *SecretsReencryptCmd) Run(ctx context.Context, e *env) error {
	pool, err := e.openPool(ctx, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	kr, err := e.keyring()
	if err != nil {
		return err
	}
	n, err := webhooks.SealSecrets(ctx, pool, kr, true)
	if err != nil {
		return fmt.Errorf("after resealing %d endpoints: %w", n, err)
	}
	fmt.Printf("resealed the secrets of %d webhook endpoints with key %s; keys other than it may now leave %s\n", n, kr.CurrentID(), secrets.EnvVar)
	return nil
}
