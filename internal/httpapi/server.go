// Package httpapi serves upstream over HTTP: health and readiness checks,
// Prometheus metrics, River UI for admins, and the API.
package httpapi

import (
	"cmp"
	"context"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/riverqueue/river"
	"riverqueue.com/riverui"

	"github.com/alexedwards/scs/v2"

	"github.com/upstream-rcm/upstream/internal/ingest"
	"github.com/upstream-rcm/upstream/internal/secrets"
	"github.com/upstream-rcm/upstream/internal/webhooks"
	"github.com/upstream-rcm/upstream/jobs"
)

// Config wires the server.
type Config struct {
	Pool   *pgxpool.Pool
	River  *river.Client[pgx.Tx]
	Logger *slog.Logger
	// AdminKey guards River UI and admin endpoints; empty disables them.
	AdminKey string
	// MaxUploadBytes limits upload bodies (ingest.DefaultMaxBytes if 0).
	MaxUploadBytes int64
	// UploadTimeout is how long one upload request may take to read (30
	// minutes if 0); other requests get the server's short timeouts.
	UploadTimeout time.Duration
	// UploadStallTimeout aborts an upload whose body sends nothing for
	// this long (DefaultUploadStallTimeout if 0).
	UploadStallTimeout time.Duration
	// MaxUploads and MaxUploadsPerCustomer bound the uploads in flight
	// (DefaultMaxUploads, DefaultMaxUploadsPerCustomer if 0). Each holds a
	// pooled connection while its body streams: keep MaxUploads well below
	// the pool's size so that reads and /readyz keep theirs.
	MaxUploads, MaxUploadsPerCustomer int
	// MaxStatRows bounds each upload's in-memory statistics
	// (claimstats.DefaultMaxRows if 0); serve ties it to its memory limit.
	MaxStatRows int
	// WebhookGuard decides which webhook URLs may be registered.
	WebhookGuard webhooks.Guard
	// Keyring seals new webhook secrets; without it creating an endpoint
	// or rotating its secret answers 503.
	Keyring *secrets.Keyring
	// SecureCookies marks the page's session cookie Secure (serve behind
	// HTTPS).
	SecureCookies bool
}

// Server is upstream's HTTP server.
type Server struct {
	cfg      Config
	mux      *http.ServeMux
	riverUI  *riverui.Handler
	sessions *scs.SessionManager
	uploads  *uploadLimiter
	// jobs and ingest are the domain's flows, wired once.
	jobs   jobs.Enqueuer
	ingest *ingest.Uploader
}

// New builds the server's routes.
func New(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.UploadTimeout <= 0 {
		cfg.UploadTimeout = 30 * time.Minute
	}
	if cfg.UploadStallTimeout <= 0 {
		cfg.UploadStallTimeout = DefaultUploadStallTimeout
	}
	cfg.MaxUploads = cmp.Or(max(cfg.MaxUploads, 0), DefaultMaxUploads)
	cfg.MaxUploadsPerCustomer = cmp.Or(max(cfg.MaxUploadsPerCustomer, 0), DefaultMaxUploadsPerCustomer)
	s := &Server{cfg: cfg, mux: http.NewServeMux(), sessions: newSessions(cfg),
		uploads: newUploadLimiter(cfg.MaxUploads, cfg.MaxUploadsPerCustomer), jobs: jobs.NewEnqueuer(cfg.River)}
	s.ingest = ingest.NewUploader(cfg.Pool, s.jobs)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	s.mux.HandleFunc("GET /readyz", s.ready)
	s.mux.Handle("GET /metrics", promhttp.Handler())
	if cfg.River != nil {
		ui, err := riverui.NewHandler(&riverui.HandlerOpts{
			Endpoints: riverui.NewEndpoints(cfg.River, nil),
			Logger:    cfg.Logger,
			Prefix:    "/riverui",
		})
		if err != nil {
			return nil, fmt.Errorf("create River UI: %w", err)
		}
		s.riverUI = ui
		s.mux.Handle("/riverui/", s.requireAdmin(ui))
	}
	s.routesAPI()
	s.routesPage()
	return s, nil
}

// Start starts background services (River UI's, expired session cleanup)
// until ctx ends.
func (s *Server) Start(ctx context.Context) error {
	go s.cleanSessions(ctx)
	if s.riverUI != nil {
		if err := s.riverUI.Start(ctx); err != nil {
			return fmt.Errorf("start River UI: %w", err)
		}
	}
	return nil
}

// Handler returns the root handler.
func (s *Server) Handler() http.Handler {
	return withRequestID(s.cfg.Logger, checkTextParams(s.mux))
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := s.cfg.Pool.Ping(ctx); err != nil {
		s.cfg.Logger.WarnContext(ctx, "readiness check failed", "error", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "database unavailable")
		return
	}
	fmt.Fprintln(w, "ready")
}

// isAdmin accepts the admin key as a Bearer token, or as the password of
// HTTP basic auth (so a browser can open River UI).
func (s *Server) isAdmin(r *http.Request) bool {
	if s.cfg.AdminKey == "" {
		return false
	}
	key := ""
	if token, ok := bearerToken(r.Header.Get("Authorization")); ok {
		key = token
	} else if _, pass, ok := r.BasicAuth(); ok {
		key = pass
	}
	return key != "" && subtle.ConstantTimeCompare([]byte(key), []byte(s.cfg.AdminKey)) == 1
}

func (s *Server) requireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.AdminKey == "" {
			http.Error(w, "River UI is disabled: start the server with UPSTREAM_ADMIN_KEY set", http.StatusForbidden)
			return
		}
		if !s.isAdmin(r) {
			w.Header().Set("WWW-Authenticate", `Basic realm="upstream admin (password: the admin key)"`)
			http.Error(w, "admin key required", http.StatusUnauthorized)
			return
		}
		if crossSiteWrite(r) {
			http.Error(w, "cross-site request refused: use River UI from this origin, or send the admin key as a Bearer token", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// crossSiteWrite reports an unsafe request that a browser made for another
// site: a browser sends basic-auth credentials with any request to this
// origin, so River UI's actions (retry, delete) need this check. A Bearer
// token is never sent by a browser on its own, so it passes.
func crossSiteWrite(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	if _, ok := bearerToken(r.Header.Get("Authorization")); ok {
		return false
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "none":
		return false
	case "":
		// Older browsers: fall back to Origin, which they send on POST.
		origin := r.Header.Get("Origin")
		if origin == "" {
			return false // not a browser (curl, scripts)
		}
		u, err := url.Parse(origin)
		return err != nil || u.Host != r.Host
	}
	return true // cross-site or same-site (another subdomain)
}

// bearerToken returns the token of an Authorization header using the
// Bearer scheme, whose name is case-insensitive (RFC 9110).
func bearerToken(h string) (string, bool) {
	const scheme = "bearer "
	if len(h) <= len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return "", false
	}
	return strings.TrimSpace(h[len(scheme):]), true
}
