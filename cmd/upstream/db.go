package main

import (
	"context"
	"fmt"

	"github.com/upstream-rcm/upstream/internal/migrate"
)

// MigrateCmd applies the schema.
type MigrateCmd struct{}

// Run applies River's and upstream's pending migrations.
func (MigrateCmd) Run(ctx context.Context, e *env) error {
	dsn, _, err := e.databaseURL(ctx)
	if err != nil {
		return err
	}
	pool, err := newPool(ctx, dsn, 4)
	if err != nil {
		return err
	}
	defer pool.Close()
	res, err := migrate.Up(ctx, pool, e.logger)
	if err != nil {
		return err
	}
	fmt.Printf("migrated: river schema version %d, upstream schema version %d (%d River and %d upstream migrations applied now)\n",
		res.RiverVersion, res.AppVersion, len(res.RiverVersions), len(res.AppVersions))
	return nil
}

// DBCmd manages the private cluster.
type DBCmd struct {
	Start  DBStartCmd  `cmd:"" help:"Start the private cluster (initializing it on first use)."`
	Stop   DBStopCmd   `cmd:"" help:"Stop the private cluster."`
	Status DBStatusCmd `cmd:"" help:"Show the database in use and its schema versions."`
	URL    DBURLCmd    `cmd:"" name:"url" help:"Print the private cluster's connection URL."`
	Path   DBPathCmd   `cmd:"" help:"Print the private cluster's data directory."`
}

// DBStartCmd starts the private cluster.
type DBStartCmd struct{}

// Run starts the private cluster.
func (DBStartCmd) Run(ctx context.Context, e *env) error {
	c, err := e.cluster()
	if err != nil {
		return err
	}
	if err := c.Start(ctx); err != nil {
		return err
	}
	fmt.Printf("private PostgreSQL running: data %s, %s\n", c.DataDir, c.URL())
	return nil
}

// DBStopCmd stops the private cluster.
type DBStopCmd struct{}

// Run stops the private cluster.
func (DBStopCmd) Run(ctx context.Context, e *env) error {
	c, err := e.cluster()
	if err != nil {
		return err
	}
	if err := c.Stop(ctx); err != nil {
		return err
	}
	fmt.Printf("private PostgreSQL stopped (data kept in %s)\n", c.DataDir)
	return nil
}

// DBStatusCmd reports on the database.
type DBStatusCmd struct{}

// Run prints which database is in use, whether it runs and its schema.
func (DBStatusCmd) Run(ctx context.Context, e *env) error {
	dsn := e.cli.DatabaseURL
	if dsn == "" {
		c, err := e.cluster()
		if err != nil {
			return err
		}
		fmt.Printf("database:  private cluster, data %s\n", c.DataDir)
		if !c.Running(ctx) {
			fmt.Println("server:    stopped (`upstream db start` or any command starts it)")
			return nil
		}
		fmt.Printf("server:    running at %s\n", c.URL())
		dsn = c.URL()
	} else {
		fmt.Println("database:  DATABASE_URL")
	}
	pool, err := newPool(ctx, dsn, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	var version string
	if err := pool.QueryRow(ctx, "SHOW server_version").Scan(&version); err != nil {
		return fmt.Errorf("read server version: %w", err)
	}
	fmt.Printf("postgres:  %s\n", version)
	st, err := migrate.GetStatus(ctx, pool)
	if err != nil {
		return err
	}
	fmt.Printf("schema:    upstream %d of %d, river %d of %d", st.AppVersion, st.AppLatest, st.RiverVersion, st.RiverLatest)
	if st.PendingMigrations {
		fmt.Print(" (pending: run `upstream migrate`)")
	}
	fmt.Println()
	return nil
}

// DBURLCmd prints the private cluster's URL.
type DBURLCmd struct{}

// Run prints the URL.
func (DBURLCmd) Run(e *env) error {
	c, err := e.cluster()
	if err != nil {
		return err
	}
	fmt.Println(c.URL())
	return nil
}

// DBPathCmd prints the private cluster's data directory.
type DBPathCmd struct{}

// Run prints the data directory.
func (DBPathCmd) Run(e *env) error {
	c, err := e.cluster()
	if err != nil {
		return err
	}
	fmt.Println(c.DataDir)
	return nil
}
