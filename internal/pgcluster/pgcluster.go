// Package pgcluster manages a private PostgreSQL cluster built from the
// PostgreSQL binaries already installed on the machine. It is upstream's
// zero-configuration default when no DATABASE_URL is given, and the test
// harness uses it to start throwaway clusters.
//
// PostgreSQL refuses to run as root. When the current process is root, every
// PostgreSQL program runs as an unprivileged system user (default
// "postgres") that owns the data directory.
package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DefaultPort is the fixed, non-standard loopback port of the private
// cluster, chosen so that it does not collide with a system PostgreSQL.
const DefaultPort = 54329

// DefaultDatabase is the application database created inside the cluster.
const DefaultDatabase = "upstream"

// superuser is the bootstrap superuser created by initdb.
const superuser = "postgres"

// ErrNoBinaries is returned when no PostgreSQL server binaries are found.
var ErrNoBinaries = errors.New("no PostgreSQL server binaries found (looked for initdb, pg_ctl and postgres on PATH, in `pg_config --bindir` and in /usr/lib/postgresql/*/bin): install PostgreSQL (e.g. `apt-get install postgresql`) or set DATABASE_URL to an existing database")

// Cluster is a private PostgreSQL cluster in a data directory of its own,
// listening on loopback at Port and on a Unix socket inside DataDir.
type Cluster struct {
	// DataDir is the cluster's data directory.
	DataDir string
	// Port is the loopback TCP port.
	Port int
	// BinDir holds initdb, pg_ctl and postgres.
	BinDir string
	// Database is the application database created on start.
	Database string
	// ExtraSettings are appended to postgresql.conf when the cluster is
	// initialized (for example fsync=off for throwaway test clusters).
	ExtraSettings map[string]string

	runAs *syscall.Credential
}

// DefaultDataDir returns the data directory used when UPSTREAM_PGDATA is not
// set. A regular user gets one under their XDG data directory; root gets
// /var/lib/upstream/pgdata, because the unprivileged user that runs
// PostgreSQL cannot traverse root's home directory.
func DefaultDataDir() string {
	if dir := os.Getenv("UPSTREAM_PGDATA"); dir != "" {
		return dir
	}
	if os.Geteuid() == 0 {
		return "/var/lib/upstream/pgdata"
	}
	base := os.Getenv("XDG_DATA_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return filepath.Join(os.TempDir(), fmt.Sprintf("upstream-%d", os.Geteuid()), "pgdata")
		}
		base = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(base, "upstream", "pgdata")
}

// New returns the private cluster for dataDir and port, locating the
// PostgreSQL binaries and, when running as root, the unprivileged user that
// will own and run the cluster (UPSTREAM_PG_USER, default "postgres").
func New(dataDir string, port int) (*Cluster, error) {
	binDir, err := FindBinDir()
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, fmt.Errorf("resolve data directory %q: %w", dataDir, err)
	}
	c := &Cluster{DataDir: abs, Port: port, BinDir: binDir, Database: DefaultDatabase}
	if os.Geteuid() == 0 {
		name := os.Getenv("UPSTREAM_PG_USER")
		if name == "" {
			name = "postgres"
		}
		cred, err := lookupCredential(name)
		if err != nil {
			return nil, fmt.Errorf("PostgreSQL refuses to run as root and the unprivileged user %q to run it as is unavailable (%w); create it (useradd --system %s), set UPSTREAM_PG_USER to another user, or set DATABASE_URL", name, err, name)
		}
		c.runAs = cred
	}
	return c, nil
}

func lookupCredential(name string) (*syscall.Credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, err
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("uid of %s: %w", name, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("gid of %s: %w", name, err)
	}
	if uid == 0 {
		return nil, fmt.Errorf("user %s is root", name)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// FindBinDir locates a directory holding initdb, pg_ctl and postgres: first
// PATH, then `pg_config --bindir`, then the newest /usr/lib/postgresql/*/bin.
func FindBinDir() (string, error) {
	var candidates []string
	if p, err := exec.LookPath("initdb"); err == nil {
		if resolved, err := filepath.EvalSymlinks(p); err == nil {
			candidates = append(candidates, filepath.Dir(resolved))
		}
		candidates = append(candidates, filepath.Dir(p))
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		candidates = append(candidates, strings.TrimSpace(string(out)))
	}
	versioned, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(versioned, func(i, j int) bool {
		return majorVersion(versioned[i]) > majorVersion(versioned[j])
	})
	candidates = append(candidates, versioned...)
	for _, dir := range candidates {
		if hasServerBinaries(dir) {
			return dir, nil
		}
	}
	return "", ErrNoBinaries
}

func majorVersion(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func hasServerBinaries(dir string) bool {
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// KeyFile is where the server key that seals secrets at rest is kept
// when none is configured: beside the data directory, not in it, so a
// copy of the data directory alone does not carry the key.
func (c *Cluster) KeyFile() string { return filepath.Clean(c.DataDir) + ".key" }

// URL returns the connection URL of the application database over loopback.
func (c *Cluster) URL() string {
	return c.urlFor(c.Database)
}

func (c *Cluster) urlFor(database string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", superuser, c.Port, database)
}

// Initialized reports whether the data directory holds a cluster.
func (c *Cluster) Initialized() bool {
	_, err := os.Stat(filepath.Join(c.DataDir, "PG_VERSION"))
	return err == nil
}

// Running reports whether the cluster's server is running.
func (c *Cluster) Running(ctx context.Context) bool {
	if !c.Initialized() {
		return false
	}
	// pg_ctl status exits 0 only when a live postmaster owns the data dir.
	return c.command(ctx, "pg_ctl", "status", "-D", c.DataDir).Run() == nil
}

// Start initializes the cluster if needed, starts its server if it is not
// running and creates the application database. It is idempotent, and safe
// when several processes call it at once: they serialize on a file lock
// next to the data directory.
func (c *Cluster) Start(ctx context.Context) error {
	unlock, err := c.lock()
	if err != nil {
		return err
	}
	defer unlock()

	if !c.Initialized() {
		if err := c.initdb(ctx); err != nil {
			return err
		}
	}
	if !c.Running(ctx) {
		logFile := filepath.Join(c.DataDir, "server.log")
		cmd := c.command(ctx, "pg_ctl", "start", "-w", "-t", "60", "-D", c.DataDir, "-l", logFile)
		// A session of its own keeps the server alive, and out of reach of
		// the terminal's signals, after this process exits.
		cmd.SysProcAttr.Setsid = true
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("start PostgreSQL in %s: %w: %s (see %s)", c.DataDir, err, bytes.TrimSpace(out), logFile)
		}
	}
	return c.createDatabase(ctx)
}

// Stop stops the cluster's server if it is running.
func (c *Cluster) Stop(ctx context.Context) error {
	unlock, err := c.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if !c.Running(ctx) {
		return nil
	}
	out, err := c.command(ctx, "pg_ctl", "stop", "-w", "-m", "fast", "-D", c.DataDir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("stop PostgreSQL in %s: %w: %s", c.DataDir, err, bytes.TrimSpace(out))
	}
	return nil
}

// lock takes an exclusive file lock beside the data directory, creating the
// parent directory if needed.
func (c *Cluster) lock() (func(), error) {
	parent := filepath.Dir(c.DataDir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", parent, err)
	}
	path := c.DataDir + ".lock"
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock file %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

func (c *Cluster) initdb(ctx context.Context) error {
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory %s: %w", c.DataDir, err)
	}
	if c.runAs != nil {
		if err := os.Chown(c.DataDir, int(c.runAs.Uid), int(c.runAs.Gid)); err != nil {
			return fmt.Errorf("give %s to the PostgreSQL user: %w", c.DataDir, err)
		}
	}
	out, err := c.command(ctx, "initdb",
		"-D", c.DataDir,
		"-U", superuser,
		"--auth=trust", // the server listens on loopback and its own socket only
		"--encoding=UTF8",
		"--locale=C",
		"--no-sync",
	).CombinedOutput()
	if err != nil {
		return fmt.Errorf("initdb %s: %w: %s", c.DataDir, err, bytes.TrimSpace(out))
	}
	settings := map[string]string{
		"listen_addresses":        "'127.0.0.1'",
		"port":                    strconv.Itoa(c.Port),
		"unix_socket_directories": "'" + c.DataDir + "'",
		"max_connections":         "200",
	}
	for k, v := range c.ExtraSettings {
		settings[k] = v
	}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var conf strings.Builder
	conf.WriteString("\n# upstream private cluster\n")
	for _, k := range keys {
		fmt.Fprintf(&conf, "%s = %s\n", k, settings[k])
	}
	// hba: local socket and loopback only; initdb's defaults already are.
	f, err := os.OpenFile(filepath.Join(c.DataDir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("open postgresql.conf: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteString(conf.String()); err != nil {
		return fmt.Errorf("write postgresql.conf: %w", err)
	}
	return nil
}

func (c *Cluster) createDatabase(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.urlFor("postgres"))
	if err != nil {
		return fmt.Errorf("connect to private cluster: %w", err)
	}
	defer conn.Close(ctx)
	if err := applyBulkLoadSettings(ctx, conn); err != nil {
		return err
	}
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", c.Database).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %s: %w", c.Database, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{c.Database}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == pgerrcode.DuplicateDatabase {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", c.Database, err)
	}
	return nil
}

// BulkLoadSettings suit a workload of large uploads. With PostgreSQL's
// defaults (max_wal_size 1GB, checkpoint_timeout 5min) a 5M-row upload
// forced a checkpoint every 15-21 s, each rewriting the pages it had just
// written; with these, checkpoints come about a minute apart under a bulk
// load (BenchmarkPrivateClusterBulkLoad). The WAL can grow to about
// max_wal_size on disk.
var BulkLoadSettings = map[string]string{
	"max_wal_size":       "4GB",
	"min_wal_size":       "1GB",
	"checkpoint_timeout": "15min",
}

// applyBulkLoadSettings sets BulkLoadSettings on the cluster where they
// still have PostgreSQL's defaults (another value the operator configured
// is kept), and reloads: clusters created before them get them too. All are
// reloadable without a restart.
func applyBulkLoadSettings(ctx context.Context, conn *pgx.Conn) error {
	changed := false
	for name, value := range BulkLoadSettings {
		// PostgreSQL's default, whether initdb wrote it into postgresql.conf
		// (it does for max_wal_size) or not.
		var isDefault bool
		if err := conn.QueryRow(ctx, "SELECT setting = boot_val FROM pg_settings WHERE name = $1", name).Scan(&isDefault); err != nil {
			return fmt.Errorf("read setting %s: %w", name, err)
		}
		if !isDefault {
			continue
		}
		// ALTER SYSTEM takes no parameters; the names and values are ours.
		if _, err := conn.Exec(ctx, fmt.Sprintf("ALTER SYSTEM SET %s = '%s'", name, value)); err != nil {
			return fmt.Errorf("set %s: %w", name, err)
		}
		changed = true
	}
	if changed {
		if _, err := conn.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
			return fmt.Errorf("reload settings: %w", err)
		}
	}
	return nil
}

// command builds a PostgreSQL command that runs as the cluster's user.
func (c *Cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.BinDir, name), args...)
	// A directory every user can enter: the tools chdir-check their cwd.
	cmd.Dir = "/"
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.runAs}
	return cmd
}
