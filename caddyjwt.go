// Package caddyjwt is JWT authentication for Caddy v2: an HTTP handler that
// guards a site by validating tokens, configured with the jwt_auth directive.
package caddyjwt

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/caddyjwt/caddyjwt/internal/jws"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// now is the clock of the package; tests replace it.
var now = time.Now

// maxLeeway is the largest clock skew accepted: more would keep expired
// and revoked tokens alive for longer than any clock drifts.
const maxLeeway = 5 * time.Minute

// Handler guards the routes after it with JSON Web Tokens.
//
// A request without a token is answered with 401 and
// `WWW-Authenticate: Bearer realm="<host>"`; a token that is malformed,
// expired, badly signed or whose claims are not accepted gets 401 with
// `error="invalid_token"`; a valid token that fails a `require` rule gets
// 403 with `error="insufficient_scope"`. With `redirect`, browsers are sent
// to a login page with 302 instead. Failures are Caddy HTTP errors, so
// `handle_errors` can shape them; the placeholder
// `{http.auth.jwt_auth.error}` holds the reason (missing, malformed,
// expired, not_yet_valid, bad_signature, bad_claims, revoked, forbidden).
//
// After a successful check, `{http.auth.user.id}` holds the token's `sub`
// and `{http.auth.user.<claim>}` each top-level claim.
type Handler struct {
	// Secret is an HMAC key for the HS algorithms: the text itself, or
	// base64 after a `base64:` prefix. Global placeholders such as
	// `{env.JWT_SECRET}` or `{file./run/secrets/jwt}` are resolved when the
	// handler is provisioned. It must be at least 32 bytes long; 32 bytes
	// serve HS256, 48 also HS384, 64 also HS512.
	Secret string `json:"secret,omitempty"`

	// Keys are key files: PEM (private key, public key or X.509
	// certificate) or JWK / JWK set JSON. Several keys may be configured
	// at once, for rotation.
	Keys []KeyConfig `json:"keys,omitempty"`

	// JWKS are URLs of remote JWK sets whose keys verify tokens (never
	// sign). Fetched at provision and refreshed in the background,
	// honouring Cache-Control max-age within 1m–24h (default 1h); a token
	// with an unknown kid triggers at most one refetch a minute. A failed
	// fetch keeps the last good keys. http:// only for loopback hosts.
	JWKS []string `json:"jwks,omitempty"`

	// OIDC are OpenID issuer URLs: their discovery document names the
	// jwks_uri (handled like JWKS), and their tokens' iss must equal the
	// issuer.
	OIDC []string `json:"oidc,omitempty"`

	// Algorithms narrows the accepted signature algorithms. Each must be
	// served by at least one local key (unless jwks or oidc may serve it).
	// Default: every algorithm the keys serve.
	Algorithms []string `json:"algorithms,omitempty"`

	// Issuers are the accepted values of the `iss` claim. When set, a
	// token must carry one of them. Default: iss is not checked.
	Issuers []string `json:"issuers,omitempty"`

	// Audiences are the accepted values of the `aud` claim. When set, the
	// token's aud (a string or an array) must hold one of them. Default:
	// aud is not checked.
	Audiences []string `json:"audiences,omitempty"`

	// Leeway is the clock skew allowed when checking exp, nbf and iat.
	// Default: 30s.
	Leeway *caddy.Duration `json:"leeway,omitempty"`

	// AllowMissingExp accepts tokens without an `exp` claim. Default:
	// such tokens are refused.
	AllowMissingExp bool `json:"allow_missing_exp,omitempty"`

	// MaxLifetime refuses tokens whose exp lies further than this in the
	// future. Default: off.
	MaxLifetime caddy.Duration `json:"max_lifetime,omitempty"`

	// Require lists claim rules that must all hold, otherwise the request
	// is answered with 403.
	Require []ClaimRule `json:"require,omitempty"`

	// From lists where the token is read, in order; the first source
	// present is used. Default: the Authorization header (scheme Bearer),
	// then the cookie `access_token`.
	From []TokenSource `json:"from,omitempty"`

	// Optional lets requests without a token pass on anonymously. A token
	// that is present but not valid is still refused.
	Optional bool `json:"optional,omitempty"`

	// Redirect is where browsers (GET or HEAD requests whose Accept header
	// holds text/html) without a valid token are sent with 302, with the
	// original request URI in the `return` query parameter: its path and
	// query, or, when the redirect goes to another origin (a portal that
	// signs in for several sites), the page's absolute URL. An absolute
	// path or an absolute http(s) URL.
	Redirect string `json:"redirect,omitempty"`

	// Except lists path patterns, as in Caddy's path matcher, served
	// without a token.
	Except []string `json:"except,omitempty"`

	// ClaimHeaders set request headers from claims for the handlers that
	// follow (such as reverse_proxy). Client-sent headers of those names
	// are always removed first.
	ClaimHeaders []ClaimHeader `json:"claim_headers,omitempty"`

	// ForwardToken keeps the access token in the request passed on, as
	// the client sent it. Default: the token the guard read (the
	// Authorization header's Bearer value, the query parameter or the
	// token cookie) is removed, so an upstream never sees it; the refresh
	// cookie is removed always.
	ForwardToken bool `json:"forward_token,omitempty"`

	// IssuerConfig holds the login, refresh, logout and JWKS endpoints.
	IssuerConfig

	leeway   time.Duration
	verifier *jws.Verifier
	// refreshCookieName is the refresh cookie, which never goes past the
	// guard.
	refreshCookieName string
	// refreshVerifier checks refresh tokens: this handler's issuer, and
	// the refresh endpoint as their audience.
	refreshVerifier *jws.Verifier
	keys            *keyHolder
	cache           *tokenCache
	issuers         []string // accepted iss: issuer and oidc
	tokenFrom       []TokenSource
	except          caddyhttp.MatchPath
	redirectURL     string
	redirectOrigin  string // the redirect's origin when it is an absolute URL
	storage         certmagic.Storage
	logger          *zap.Logger
	metrics         *metrics
	background      context.Context // the handler's life, for background work
	stop            context.CancelFunc
	csrf            *http.CrossOriginProtection // cookie-borne tokens; shared with the issuer
	revocations     *revocationList             // shared with the issuer, and pooled per storage
	revocationsKey  string                      // its key in revocationPool
	issuer          *issuer                     // the handler's own endpoints
}

// KeyConfig is one key file.
type KeyConfig struct {
	// File is the path of a PEM file (PKCS#1, PKCS#8, SEC1, PKIX public
	// key or X.509 certificate) or a JWK / JWK set JSON file.
	File string `json:"file,omitempty"`

	// KID is the key id that tokens name in their `kid` header. Default:
	// the JWK's own kid; a key without one is tried for any kid that no
	// other key claims.
	KID string `json:"kid,omitempty"`

	// Auto, instead of a file, names the algorithm (ES256, EdDSA or
	// RS256) of a signing key generated on first start and kept in
	// Caddy's storage, so that every instance on that storage, and every
	// later start, uses the same key. Its kid is its RFC 7638 thumbprint.
	Auto string `json:"auto,omitempty"`

	// Rotate, for an auto key, is how long a key signs before a new one
	// replaces it. A replaced key keeps verifying, and stays in the JWKS,
	// until every token it signed has expired. Default: never.
	Rotate caddy.Duration `json:"rotate,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.jwt_auth",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision sets defaults, loads the keys, builds the token parser and the
// issuer, and starts the background work: revocation sync and users-file
// reload.
func (h *Handler) Provision(ctx caddy.Context) error {
	return h.provision(ctx, ctx.Storage())
}

// provision is Provision with the storage given, so that unit tests can
// give a folder of their own.
func (h *Handler) provision(ctx caddy.Context, storage certmagic.Storage) error {
	if err := h.Validate(); err != nil {
		return err
	}
	h.logger = ctx.Logger()
	h.storage = storage
	h.leeway = 30 * time.Second
	if h.Leeway != nil {
		h.leeway = time.Duration(*h.Leeway)
	}
	h.tokenFrom = h.From
	if len(h.tokenFrom) == 0 {
		h.tokenFrom = []TokenSource{
			{Source: "header", Name: "Authorization"},
			{Source: "cookie", Name: cookieDefaults(h.Cookie).Name},
		}
	}
	var err error
	if h.metrics, err = newMetrics(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	h.background, h.stop = context.WithCancel(ctx)

	h.issuers = slices.Clone(h.Issuers)
	if len(h.JWKS) > 0 && len(h.Issuers) == 0 && len(h.Audiences) == 0 {
		h.logger.Warn("jwks without issuer or audience: a token its keys signed for any other service is accepted here too",
			zap.Strings("jwks", h.JWKS))
	}
	if err := h.provisionKeys(ctx, storage); err != nil {
		return err
	}
	h.refreshCookieName = cookieDefaults(h.Cookie).Name + "_refresh"
	h.verifier = h.newVerifier()
	h.refreshVerifier = &jws.Verifier{
		Leeway: h.leeway, Issuers: h.Issuers, Audiences: []string{refreshAudience(h.Issuers, h.Refresh)},
		Now: h.verifier.Now,
	}
	h.cache = newTokenCache()
	if os.Getenv(cacheEnv) == "off" {
		h.cache = nil // a benchmarking aid (bench/load.sh MODE=many), not a setting
	}
	h.redirectURL = redirectPrefix(h.Redirect)
	h.redirectOrigin = redirectOrigin(h.Redirect)

	if len(h.Except) > 0 {
		h.except = caddyhttp.MatchPath(h.Except)
		if err := h.except.Provision(ctx); err != nil {
			return fmt.Errorf("except: %w", err)
		}
	}
	h.csrf = http.NewCrossOriginProtection()
	for _, o := range h.TrustedOrigins {
		if err := h.csrf.AddTrustedOrigin(o); err != nil {
			return fmt.Errorf("trusted_origins: %w", err)
		}
	}
	if h.revocations, h.revocationsKey, err = acquireRevocations(h.storage); err != nil {
		return fmt.Errorf("revocations: %w", err)
	}
	if h.issuer, err = newIssuer(h.IssuerConfig, h.issuerDeps()); err != nil {
		return err
	}

	background := h.background
	h.issuer.start(background)
	h.startAutoKeyRotation(background)
	h.startRemoteKeys(background)
	return nil
}

// newVerifier configures the token package's checks from the handler's
// config; the clock is the package's, which tests replace.
func (h *Handler) newVerifier() *jws.Verifier {
	return &jws.Verifier{
		Leeway:          h.leeway,
		AllowMissingExp: h.AllowMissingExp,
		MaxLifetime:     time.Duration(h.MaxLifetime),
		Issuers:         h.issuers,
		Audiences:       h.Audiences,
		Now:             func() time.Time { return now() },
	}
}

// issuerDeps is all the issuer may use of the guard: token checks for
// logout and refresh, the key ring's signer and JWK set, and the state
// both share. It is the one place the issuer meets the guard's token
// types.
func (h *Handler) issuerDeps() issuerDeps {
	deps := issuerDeps{
		presented: func(r *http.Request) (verifiedToken, bool) {
			raw, _, err := h.extract(r)
			if err != nil || raw == "" {
				return verifiedToken{}, false
			}
			id, err := h.verify(raw)
			if err != nil {
				return verifiedToken{}, false
			}
			return verifiedToken{sub: id.sub, sid: id.sid, jti: id.jti, exp: id.exp}, true
		},
		checkRefresh: func(raw string) (verifiedToken, error) {
			t, err := h.check(h.keys.ring.Load(), raw, true)
			if err != nil {
				return verifiedToken{}, err
			}
			return verifiedToken{sub: t.Sub, sid: t.Sid, jti: t.Jti}, nil
		},
		signer:      func() *key { return h.keys.ring.Load().signer },
		jwks:        func() []byte { return h.keys.ring.Load().jwks },
		revocations: h.revocations,
		csrf:        h.csrf,
		storage:     h.storage,
		logger:      h.logger,
		metrics:     h.metrics,
		leeway:      h.leeway,
	}
	if len(h.Issuers) > 0 {
		deps.name = h.Issuers[0]
	}
	if len(h.Audiences) > 0 {
		deps.audience = h.Audiences[0]
	}
	return deps
}

// every calls fn at each interval until ctx is done.
func every(ctx context.Context, interval time.Duration, fn func()) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			fn()
		}
	}
}

// Cleanup stops the background work.
func (h *Handler) Cleanup() error {
	h.keys.releaseRemoteKeys()
	if h.revocationsKey != "" {
		_, _ = revocationPool.Delete(h.revocationsKey)
	}
	if h.stop != nil {
		h.stop()
	}
	return nil
}

// ServeHTTP answers the handler's own endpoints (login, refresh, logout,
// JWKS); otherwise it guards the request: a request that needs no token
// passes on; otherwise the token is extracted (a cookie-borne token on a
// cross-origin unsafe request is refused), verified, checked against the
// require rules, and its identity published before the next handler runs.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if endpoint := h.issuer.endpoint(r.URL.Path); endpoint != nil {
		return endpoint(w, r)
	}
	h.stripIdentityHeaders(r)
	if h.passesWithoutToken(r) {
		return h.passAnonymously(w, r, next)
	}

	raw, src, err := h.extractFrom(r)
	if err == errMissing {
		raw, src, err = earlierToken(r)
	}
	if err == errMissing && h.Optional {
		h.metrics.validated("missing")
		return h.passAnonymously(w, r, next)
	}
	if err != nil {
		return h.refuse(w, r, err)
	}
	if src.Source == "cookie" && h.csrf.Check(r) != nil {
		return h.refuse(w, r, errCrossOrigin)
	}
	id, err := h.verify(raw)
	if err != nil {
		return h.refuse(w, r, err)
	}
	if err := h.authorize(id); err != nil {
		return h.refuse(w, r, err)
	}
	h.publish(r, id)
	r = h.forget(r, raw, src)
	h.metrics.validated("ok")
	w.Header()["Cache-Control"] = privateNoCache
	return next.ServeHTTP(w, r)
}

// passAnonymously lets a request go on without an identity: its
// {http.auth.user.*} placeholders read as empty, never as literal text,
// and the refresh cookie stays behind.
func (h *Handler) passAnonymously(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Map(anonymousUser)
	}
	r = h.forget(r, "", nil)
	return next.ServeHTTP(w, r)
}

// anonymousUser answers every {http.auth.user.*} placeholder with "".
func anonymousUser(key string) (any, bool) {
	if strings.HasPrefix(key, "http.auth.user.") {
		return "", true
	}
	return nil, false
}

// privateNoCache is set on every response the guard authenticated: shared
// caches must not store it, and a browser must ask again before reusing it,
// so that after logout a cached page is not shown. Its length equals its
// capacity, so a handler appending to it gets a copy.
var privateNoCache = []string{"private, no-cache"}

// passesWithoutToken tells whether the request goes on without a token: a
// path listed in except, or a CORS preflight.
func (h *Handler) passesWithoutToken(r *http.Request) bool {
	if r.Method == http.MethodOptions && r.Header.Get("Origin") != "" &&
		r.Header.Get("Access-Control-Request-Method") != "" {
		return true
	}
	if h.except == nil {
		return false
	}
	match, err := h.except.MatchWithError(r)
	return err == nil && match && !ambiguousPath(r.URL.Path)
}

// ambiguousPath tells whether a decoded request path may name another
// resource to the server behind Caddy than it does to Caddy's path
// matcher, which cleans only '/'-separated dot segments: it holds a
// backslash (a separator on Windows), a ';' (path parameters, which Tomcat
// and others cut off: /public/..;/admin), a '%' left after decoding
// (decoded again by some: %252e%252e), a '?' or '#' (which end the path
// for a server that parses the decoded path again), a control character
// (a NUL ends a path in C), or a segment of dots and spaces only (a dot
// segment once trailing dots and spaces are trimmed, as Windows does).
// Such a path never matches except: it needs a token.
func ambiguousPath(p string) bool {
	for i := 0; i < len(p); i++ {
		if c := p[i]; c == '\\' || c == ';' || c == '%' || c == '?' || c == '#' || c < 0x20 || c == 0x7f {
			return true
		}
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg != "" && strings.Trim(seg, ". ") == "" {
			return true
		}
	}
	return false
}

// logRefusal logs a refused request at DEBUG, without the token.
func (h *Handler) logRefusal(r *http.Request, f *failure) {
	if c := h.logger.Check(zapcore.DebugLevel, "request refused"); c != nil {
		c.Write(
			zap.String("reason", f.reason),
			zap.String("description", f.description),
			zap.String("client_ip", clientIP(r)),
			zap.String("path", r.URL.Path),
		)
	}
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
