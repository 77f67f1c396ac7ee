package caddyjwt

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/caddyjwt/caddyjwt/internal/jws"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/certmagic"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"
)

// issuer answers the handler's own endpoints: login, refresh, logout, the
// JWKS and the discovery document. It is built from the config by
// newIssuer, and reaches the guard only through its issuerDeps.
type issuer struct {
	IssuerConfig
	issuerDeps

	accessTTL     time.Duration
	refreshTTL    time.Duration // the idle limit of a login
	sessionTTL    time.Duration // the absolute limit of a login
	grace         time.Duration // how long a spent refresh token still refreshes
	returnOrigins returnOrigins // trusted_return
	formTargets   string        // trusted_return as CSP form-action sources
	cookie        CookieConfig
	sameSite      http.SameSite
	users         *userStore
	byIP          *failureLimiter
	byUser        *failureLimiter
	shared        *failureShare // the limits' counts shared with the cluster
	loginPage     *template.Template
	providers     map[string]*provider // identity_provider, by name
	endpoints     map[string]func(http.ResponseWriter, *http.Request) error
}

// issuerDeps is what the issuer needs from the guard and the handler,
// passed in explicitly rather than through the whole Handler.
type issuerDeps struct {
	// presented reads and verifies the access token a request presents,
	// as the guard would (logout); false when there is none or it is not
	// accepted.
	presented func(r *http.Request) (verifiedToken, bool)

	// checkRefresh verifies a refresh token as the guard verifies access
	// tokens, with typ refresh+jwt due.
	checkRefresh func(raw string) (verifiedToken, error)

	// signer is the key ring's current signing key; nil when no key can
	// sign.
	signer func() *key

	// jwks is the current public JWK set, as published.
	jwks func() []byte

	revocations *revocationList
	csrf        *http.CrossOriginProtection // shared with the guard's cookie check
	storage     certmagic.Storage
	logger      *zap.Logger
	metrics     *metrics

	// name is the iss of issued tokens (the first configured issuer);
	// empty for the request's origin.
	name string

	// audience is the aud of issued tokens; empty for none.
	audience string

	// leeway is the guard's clock skew: a token is accepted until its exp
	// plus this, so revocations last as long.
	leeway time.Duration
}

// verifiedToken is what the issuer learns from a token the guard accepted.
type verifiedToken struct {
	sub, sid, jti string
	exp           *time.Time // nil when the token has none
}

// issuedToken is what the login and refresh endpoints answer with JSON.
type issuedToken struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int64  `json:"expires_in"`
	RefreshToken     string `json:"refresh_token,omitempty"`
	RefreshExpiresIn int64  `json:"refresh_expires_in,omitempty"`
}

// newIssuer builds what the issuer's endpoints need: users, rate limits
// and the login page when login or refresh is served. The config has been
// checked by Validate or is checked after; errors name the subdirective.
func newIssuer(cfg IssuerConfig, deps issuerDeps) (*issuer, error) {
	is := &issuer{IssuerConfig: cfg, issuerDeps: deps, cookie: cookieDefaults(cfg.Cookie)}
	is.accessTTL, is.refreshTTL = cfg.ttls()
	is.sessionTTL, is.grace = cfg.sessionLimits()
	var err error
	if is.returnOrigins, err = newReturnOrigins(cfg.TrustedReturn); err != nil {
		return nil, fmt.Errorf("trusted_return: %w", err)
	}
	is.formTargets = formActions(cfg.TrustedReturn)
	is.sameSite = sameSiteModes[is.cookie.SameSite]
	is.endpoints = make(map[string]func(http.ResponseWriter, *http.Request) error)
	if cfg.Login != "" || cfg.Refresh != "" {
		if err := is.provisionLogin(); err != nil {
			return nil, err
		}
	}
	if cfg.Logout != "" {
		is.endpoints[cfg.Logout] = is.serveLogout
	}
	if cfg.JWKSEndpoint != "" {
		is.endpoints[cfg.JWKSEndpoint] = is.serveJWKS
		is.endpoints["/.well-known/openid-configuration"] = is.serveDiscovery
	}
	return is, nil
}

// provisionLogin builds the users, the rate limits and the login page, and
// checks that a key can sign.
func (is *issuer) provisionLogin() error {
	users, err := newUserStore(is.Users, is.UsersFile, is.logger)
	if err != nil {
		return err
	}
	is.users = users
	if is.signer() == nil {
		return errors.New("login: no key can sign tokens: add key auto, a private key file or a secret")
	}
	limit := defaultLoginLimit
	if is.LoginLimit != nil {
		limit = *is.LoginLimit
	}
	is.byIP = newFailureLimiter(limit.Count, time.Duration(limit.Window))
	is.byUser = newFailureLimiter(limit.Count, time.Duration(limit.Window))
	if is.storage != nil {
		is.shared = newFailureShare(is.storage, is.name, time.Duration(limit.Window),
			map[string]*failureLimiter{"ip": is.byIP, "user": is.byUser}, is.logger)
	}
	if is.loginPage, err = loadLoginPage(is.LoginPage); err != nil {
		return err
	}
	if is.Login != "" {
		is.endpoints[is.Login] = is.serveLogin
	}
	if err := is.provisionProviders(); err != nil {
		return err
	}
	if is.Refresh != "" {
		is.endpoints[is.Refresh] = is.serveRefresh
	}
	return nil
}

// start runs the issuer's background work until ctx is done: users-file
// reload and the sweeps of logins and pending sign-ins that ran out.
func (is *issuer) start(ctx context.Context) {
	if is.users != nil && is.UsersFile != "" {
		go every(ctx, usersPollInterval, is.users.reload)
	}
	if is.Refresh != "" {
		go every(ctx, familySweepInterval, func() { is.deleteExpiredFamilies(ctx) })
	}
	if is.Login != "" && is.storage != nil {
		go every(ctx, familySweepInterval, func() { is.deletePendingSignIns(ctx) })
	}
	if is.shared != nil {
		go every(ctx, syncInterval, func() { is.shared.syncLogged(ctx) })
	}
	for _, p := range is.providers {
		p.life = ctx // before serving: discovery stops with the handler
		go p.discoverLoop(ctx)
	}
}

// endpoint is the issuer's handler for a path, or nil. A nil issuer
// (a handler not provisioned by Provision) serves nothing.
func (is *issuer) endpoint(path string) func(http.ResponseWriter, *http.Request) error {
	if is == nil {
		return nil
	}
	return is.endpoints[path]
}

// registeredClaims are the claims caddyjwt writes itself; a user's own
// claims never override them.
var registeredClaims = []string{"iss", "sub", "aud", "iat", "nbf", "exp", "jti", "sid"}

// grant is what a login's tokens are minted from.
type grant struct {
	sub, sid string
	claims   map[string]any // the user's own claims; never override registeredClaims
	// refreshJTI is the jti of the refresh token, the one its family
	// expects next; "" mints no refresh token.
	refreshJTI string
	// end is the login's absolute limit (sign-in + session_ttl): no token
	// lives past it.
	end time.Time
}

// mint signs an access token, and a refresh token when the grant names
// one, both capped at the end of the login. One clock reading serves
// both.
func (is *issuer) mint(g grant) (issuedToken, error) {
	t := now()
	claims := func(ttl time.Duration) (jwt.MapClaims, int64) {
		exp := min(t.Add(ttl).Unix(), g.end.Unix())
		c := jwt.MapClaims{}
		maps.Copy(c, g.claims)
		for _, name := range registeredClaims {
			delete(c, name)
		}
		c["iss"], c["sub"], c["sid"], c["jti"] = is.name, g.sub, g.sid, rand.Text()
		c["iat"], c["nbf"], c["exp"] = t.Unix(), t.Unix(), exp
		if is.audience != "" {
			c["aud"] = is.audience
		}
		return c, exp - t.Unix()
	}
	ac, accessIn := claims(is.accessTTL)
	if accessIn <= 0 {
		return issuedToken{}, errSessionOver
	}
	access, err := is.sign(ac, "JWT")
	if err != nil {
		return issuedToken{}, err
	}
	out := issuedToken{AccessToken: access, TokenType: "Bearer", ExpiresIn: accessIn}
	if g.refreshJTI == "" {
		return out, nil
	}
	rc, refreshIn := claims(is.refreshTTL)
	rc["jti"] = g.refreshJTI
	rc["aud"] = refreshAudience([]string{is.name}, is.Refresh)
	if out.RefreshToken, err = is.sign(rc, jws.RefreshType); err != nil {
		return issuedToken{}, err
	}
	out.RefreshExpiresIn = refreshIn
	return out, nil
}

// sign makes a compact JWS with the signing key.
func (is *issuer) sign(claims jwt.MapClaims, typ string) (string, error) {
	signer := is.signer()
	if signer == nil {
		return "", errors.New("signing a token: no key can sign")
	}
	method, kid, key := jwt.GetSigningMethod(signer.algs[0]), signer.kid, signer.signer
	if typ == jws.RefreshType { // signed with a key the JWKS never publishes
		method, kid, key = jwt.SigningMethodHS256, refreshKid(signer), signer.refreshSecret
	}
	tok := jwt.NewWithClaims(method, claims)
	tok.Header["typ"] = typ
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("signing a token: %w", err)
	}
	return s, nil
}

// refreshAudience is the aud of refresh tokens: the refresh endpoint's
// URL on the issuer's origin, which no other reader expects.
func refreshAudience(issuers []string, refreshPath string) string {
	if len(issuers) == 0 {
		return refreshPath
	}
	u, err := url.Parse(issuers[0])
	if err != nil || u.Host == "" {
		return strings.TrimSuffix(issuers[0], "/") + refreshPath
	}
	return u.Scheme + "://" + u.Host + refreshPath
}

// setCookies sets the access cookie and, with refresh on, the refresh
// cookie, which only the refresh endpoint receives.
func (is *issuer) setCookies(w http.ResponseWriter, tok issuedToken) {
	http.SetCookie(w, is.accessCookie(tok.AccessToken, int(tok.ExpiresIn)))
	if tok.RefreshToken != "" && is.Refresh != "" {
		http.SetCookie(w, is.refreshCookie(tok.RefreshToken, int(tok.RefreshExpiresIn)))
	}
}

// clearCookies expires both cookies (Max-Age=0).
func (is *issuer) clearCookies(w http.ResponseWriter) {
	http.SetCookie(w, is.accessCookie("", -1))
	if is.Refresh != "" {
		http.SetCookie(w, is.refreshCookie("", -1))
	}
}

func (is *issuer) accessCookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: is.cookie.Name, Value: value, Path: is.cookie.Path, Domain: is.cookie.Domain,
		MaxAge: maxAge, HttpOnly: true, Secure: !is.cookie.Insecure, SameSite: is.sameSite,
	}
}

// refreshCookie is the refresh cookie: Path the common folder of the
// login, refresh and logout paths, so that it reaches those endpoints (and
// the guard removes it wherever else it reaches); SameSite=Lax, so that a
// person arriving from a link on another site is still signed in.
func (is *issuer) refreshCookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: is.cookie.Name + "_refresh", Value: value, Path: commonFolder(is.Login, is.Refresh, is.Logout), Domain: is.cookie.Domain,
		MaxAge: maxAge, HttpOnly: true, Secure: !is.cookie.Insecure, SameSite: http.SameSiteLaxMode,
	}
}

// commonFolder is the longest path prefix, ending in '/', that every
// non-empty path starts with: a cookie Path that path-matches them all
// (RFC 6265 5.1.4). "/" when they share none.
func commonFolder(paths ...string) string {
	common := ""
	for _, p := range paths {
		if p == "" {
			continue
		}
		folder := p[:strings.LastIndexByte(p, '/')+1]
		if common == "" {
			common = folder
			continue
		}
		for !strings.HasPrefix(folder, common) {
			common = common[:strings.LastIndexByte(common[:len(common)-1], '/')+1]
		}
	}
	if common == "" {
		return "/"
	}
	return common
}

// writeToken answers a JSON login or refresh: the tokens, never cached.
func writeToken(w http.ResponseWriter, tok issuedToken) error {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	return writeJSON(w, http.StatusOK, tok)
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, err = w.Write(body)
	return err
}

// methodNotAllowed answers 405 with the methods allowed.
func methodNotAllowed(w http.ResponseWriter, allow string) error {
	w.Header().Set("Allow", allow)
	return caddyhttp.Error(http.StatusMethodNotAllowed, errors.New("method not allowed"))
}

// logLoginFailure logs a failed login at WARN with the user name and the
// client IP, for fail2ban; never the password.
func (is *issuer) logLoginFailure(r *http.Request, user, why string) {
	is.logger.Warn("login failed",
		zap.String("user", user),
		zap.String("client_ip", clientIP(r)),
		zap.String("reason", why))
}

// clientIP is the client address as Caddy determined it (honouring
// trusted_proxies), else the connection's address.
func clientIP(r *http.Request) string {
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
		return ip
	}
	return r.RemoteAddr
}

// provisionProviders builds the identity providers and serves their
// paths: <login>/<name> starts a sign-in, <login>/<name>/callback ends it.
func (is *issuer) provisionProviders() error {
	is.providers = make(map[string]*provider, len(is.IdentityProviders))
	for _, cfg := range is.IdentityProviders {
		p, err := newProvider(cfg, is.Login, is.logger)
		if err != nil {
			return err
		}
		is.providers[p.Name] = p
		is.endpoints[p.start] = is.serveFederatedStart(p)
		is.endpoints[p.callback] = is.serveFederatedCallback(p)
	}
	if len(is.providers) > 0 {
		for name := range is.users.current.Load().accounts {
			if is.providerOf(name) != nil {
				is.logger.Warn("users_file: this user cannot sign in with a password: the name reads as a sign-in with an identity_provider",
					zap.String("user", logUserName(name)))
			}
		}
	}
	return nil
}
