package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Temporary is a throwaway cluster owned by the current process: it lives in
// a fresh temporary directory, listens on a free loopback port and is shut
// down when Stop is called or, failing that, when this process dies.
type Temporary struct {
	*Cluster
	done chan error
	proc *os.Process
}

// StartTemporary initializes and starts a throwaway cluster tuned for tests
// (no fsync: its data does not need to survive a crash).
func StartTemporary(ctx context.Context) (*Temporary, error) {
	dir, err := os.MkdirTemp("", "upstream-pg-")
	if err != nil {
		return nil, fmt.Errorf("create temporary cluster directory: %w", err)
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	c, err := New(filepath.Join(dir, "data"), port)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	c.ExtraSettings = map[string]string{
		"fsync":              "off",
		"synchronous_commit": "off",
		"full_page_writes":   "off",
		"max_connections":    "300",
		"log_min_messages":   "fatal",
	}
	if c.runAs != nil {
		// os.MkdirTemp creates the directory 0700 for root only.
		if err := os.Chown(dir, int(c.runAs.Uid), int(c.runAs.Gid)); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("give %s to the PostgreSQL user: %w", dir, err)
		}
	}
	if err := c.initdb(ctx); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}

	cmd := c.command(context.Background(), "postgres", "-D", c.DataDir)
	// The server dies with this process even if Stop is never called.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
	logFile, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("create server log: %w", err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start temporary PostgreSQL: %w", err)
	}
	t := &Temporary{Cluster: c, done: make(chan error, 1), proc: cmd.Process}
	go func() {
		t.done <- cmd.Wait()
		logFile.Close()
	}()
	if err := t.waitReady(ctx); err != nil {
		t.Stop()
		return nil, err
	}
	if err := c.createDatabase(ctx); err != nil {
		t.Stop()
		return nil, err
	}
	return t, nil
}

func (t *Temporary) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		conn, err := pgx.Connect(ctx, t.urlFor("postgres"))
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		select {
		case exitErr := <-t.done:
			t.done <- exitErr
			log, _ := os.ReadFile(filepath.Join(filepath.Dir(t.DataDir), "server.log"))
			return fmt.Errorf("temporary PostgreSQL exited before accepting connections (%v): %s", exitErr, log)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("temporary PostgreSQL not ready after 60s: %w", err)
		}
	}
}

// Stop shuts the server down (fast mode) and removes its directory.
func (t *Temporary) Stop() {
	_ = t.proc.Signal(syscall.SIGINT)
	select {
	case <-t.done:
	case <-time.After(30 * time.Second):
		_ = t.proc.Kill()
		<-t.done
	}
	os.RemoveAll(filepath.Dir(t.DataDir))
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, errors.New("find a free port: not a TCP address")
	}
	return addr.Port, nil
}
