package caddyjwt

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"strconv"
	"time"

	"github.com/caddyjwt/caddyjwt/internal/jws"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"
)

// Issuer is the part of the handler that issues tokens: the login,
// refresh, logout and JWKS endpoints, which the handler answers itself.
type Issuer struct {
	// Login is the path of the login endpoint: GET shows the login page,
	// POST takes JSON {"username","password"} or a form. Needs a user
	// source (users or users_file) and a key that can sign.
	Login string `json:"login,omitempty"`

	// Refresh is the path where a refresh token buys a new access token
	// and a new refresh token (rotation); each refresh token can be spent
	// once.
	Refresh string `json:"refresh,omitempty"`

	// Logout is the path that revokes the presented access token and its
	// login's refresh tokens, and clears the cookies.
	Logout string `json:"logout,omitempty"`

	// JWKSEndpoint is the path serving the public keys as a JWK set. With
	// it, /.well-known/openid-configuration answers {"issuer","jwks_uri"}.
	JWKSEndpoint string `json:"jwks_endpoint,omitempty"`

	// Users are accounts defined in the config.
	Users []User `json:"users,omitempty"`

	// UsersFile is a JSON file
	// {"<name>": {"password": "<hash>", "claims": {...}, "disabled": false}}
	// or htpasswd lines name:hash, reloaded when it changes. A file that
	// stops parsing keeps the last good users. Config users win over file
	// users of the same name.
	UsersFile string `json:"users_file,omitempty"`

	// AccessTTL is the lifetime of access tokens. Default: 15m.
	AccessTTL caddy.Duration `json:"access_ttl,omitempty"`

	// RefreshTTL is the lifetime of refresh tokens; 0 turns refresh
	// tokens off. Default: 168h.
	RefreshTTL *caddy.Duration `json:"refresh_ttl,omitempty"`

	// Cookie configures the access token cookie, which the guard also
	// reads. The refresh cookie is named <name>_refresh.
	Cookie *CookieConfig `json:"cookie,omitempty"`

	// LoginLimit is how many failed logins are allowed per client IP and
	// per user name in a window. Default: 5 per 1m.
	LoginLimit *LoginLimit `json:"login_limit,omitempty"`

	// LoginPage is an html/template file replacing the built-in login
	// page; see the README for the fields it is given.
	LoginPage string `json:"login_page,omitempty"`

	// TrustedOrigins are origins (scheme://host[:port]) allowed to make
	// cross-origin unsafe requests: logins, logouts, refreshes and
	// cookie-authenticated requests. Default: none.
	TrustedOrigins []string `json:"trusted_origins,omitempty"`
}

// CookieConfig describes the token cookies.
type CookieConfig struct {
	// Name of the access token cookie. Default: access_token.
	Name string `json:"name,omitempty"`

	// Domain of the cookies. Default: none (the host only).
	Domain string `json:"domain,omitempty"`

	// Path of the access token cookie. Default: /.
	Path string `json:"path,omitempty"`

	// SameSite of the access token cookie: lax, strict or none. Default:
	// lax. The refresh cookie is always strict.
	SameSite string `json:"same_site,omitempty"`

	// Insecure drops the Secure flag, for plain-HTTP development only.
	Insecure bool `json:"insecure,omitempty"`
}

// LoginLimit bounds failed logins.
type LoginLimit struct {
	// Count is the number of failed logins allowed in a window.
	Count int `json:"count,omitempty"`

	// Window is the time over which failures are counted.
	Window caddy.Duration `json:"window,omitempty"`
}

// issuerState is what Provision builds for the issuer.
type issuerState struct {
	accessTTL   time.Duration
	refreshTTL  time.Duration
	cookie      CookieConfig
	sameSite    http.SameSite
	users       *userStore
	byIP        *failureLimiter
	byUser      *failureLimiter
	loginPage   *template.Template
	csrf        *http.CrossOriginProtection
	revocations *revocationList
	endpoints   map[string]func(http.ResponseWriter, *http.Request) error
}

// issuedToken is what the login and refresh endpoints answer with JSON.
type issuedToken struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int64  `json:"expires_in"`
	RefreshToken     string `json:"refresh_token,omitempty"`
	RefreshExpiresIn int64  `json:"refresh_expires_in,omitempty"`
}

// registeredClaims are the claims caddyjwt writes itself; a user's own
// claims never override them.
var registeredClaims = []string{"iss", "sub", "aud", "iat", "nbf", "exp", "jti", "sid"}

// mint signs an access token, and a refresh token when refresh is on, for
// a login (sid) of sub. One clock reading serves both.
func (h *Handler) mint(r *http.Request, sub, sid string, extra map[string]any) (issuedToken, string, error) {
	t := now()
	claims := func(ttl time.Duration) jwt.MapClaims {
		c := jwt.MapClaims{}
		maps.Copy(c, extra)
		for _, name := range registeredClaims {
			delete(c, name)
		}
		c["iss"], c["sub"], c["sid"], c["jti"] = h.issuerName(r), sub, sid, rand.Text()
		c["iat"], c["nbf"], c["exp"] = t.Unix(), t.Unix(), t.Add(ttl).Unix()
		if len(h.Audiences) > 0 {
			c["aud"] = h.Audiences[0]
		}
		return c
	}
	access, err := h.sign(claims(h.accessTTL), "JWT")
	if err != nil {
		return issuedToken{}, "", err
	}
	out := issuedToken{AccessToken: access, TokenType: "Bearer", ExpiresIn: int64(h.accessTTL.Seconds())}
	if h.refreshTTL == 0 {
		return out, "", nil
	}
	rc := claims(h.refreshTTL)
	if out.RefreshToken, err = h.sign(rc, jws.RefreshType); err != nil {
		return issuedToken{}, "", err
	}
	out.RefreshExpiresIn = int64(h.refreshTTL.Seconds())
	return out, rc["jti"].(string), nil
}

// sign makes a compact JWS with the signing key.
func (h *Handler) sign(claims jwt.MapClaims, typ string) (string, error) {
	signer := h.keys.ring.Load().signer
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(signer.algs[0]), claims)
	tok.Header["typ"] = typ
	if signer.kid != "" {
		tok.Header["kid"] = signer.kid
	}
	s, err := tok.SignedString(signer.signer)
	if err != nil {
		return "", fmt.Errorf("signing a token: %w", err)
	}
	return s, nil
}

// issuerName is the iss of issued tokens: the first configured issuer, or
// else this site's origin.
func (h *Handler) issuerName(r *http.Request) string {
	if len(h.Issuers) > 0 {
		return h.Issuers[0]
	}
	return origin(r)
}

func origin(r *http.Request) string {
	if r.TLS != nil {
		return "https://" + r.Host
	}
	return "http://" + r.Host
}

// setCookies sets the access cookie and, with refresh on, the refresh
// cookie, which only the refresh endpoint receives.
func (h *Handler) setCookies(w http.ResponseWriter, tok issuedToken) {
	http.SetCookie(w, h.accessCookie(tok.AccessToken, int(tok.ExpiresIn)))
	if tok.RefreshToken != "" && h.Refresh != "" {
		http.SetCookie(w, h.refreshCookie(tok.RefreshToken, int(tok.RefreshExpiresIn)))
	}
}

// clearCookies expires both cookies (Max-Age=0).
func (h *Handler) clearCookies(w http.ResponseWriter) {
	http.SetCookie(w, h.accessCookie("", -1))
	if h.Refresh != "" {
		http.SetCookie(w, h.refreshCookie("", -1))
	}
}

func (h *Handler) accessCookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: h.cookie.Name, Value: value, Path: h.cookie.Path, Domain: h.cookie.Domain,
		MaxAge: maxAge, HttpOnly: true, Secure: !h.cookie.Insecure, SameSite: h.sameSite,
	}
}

func (h *Handler) refreshCookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: h.cookie.Name + "_refresh", Value: value, Path: h.Refresh, Domain: h.cookie.Domain,
		MaxAge: maxAge, HttpOnly: true, Secure: !h.cookie.Insecure, SameSite: http.SameSiteStrictMode,
	}
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
func (h *Handler) logLoginFailure(r *http.Request, user, why string) {
	h.logger.Warn("login failed",
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

// cookieDefaults fills in the cookie's defaults.
func cookieDefaults(c *CookieConfig) CookieConfig {
	var out CookieConfig
	if c != nil {
		out = *c
	}
	if out.Name == "" {
		out.Name = defaultCookieName
	}
	if out.Path == "" {
		out.Path = "/"
	}
	if out.SameSite == "" {
		out.SameSite = "lax"
	}
	return out
}

var sameSiteModes = map[string]http.SameSite{
	"lax": http.SameSiteLaxMode, "strict": http.SameSiteStrictMode, "none": http.SameSiteNoneMode,
}

// issuerDefaults sets the token lifetimes, which key auto rotation needs
// before the keys load.
func (h *Handler) issuerDefaults() {
	h.accessTTL = 15 * time.Minute
	if h.AccessTTL > 0 {
		h.accessTTL = time.Duration(h.AccessTTL)
	}
	h.refreshTTL = 168 * time.Hour
	if h.RefreshTTL != nil {
		h.refreshTTL = time.Duration(*h.RefreshTTL)
	}
}

// provisionIssuer builds what the issuer's endpoints need. Errors name
// the subdirective.
func (h *Handler) provisionIssuer() error {
	var ok bool
	if h.sameSite, ok = sameSiteModes[h.cookie.SameSite]; !ok {
		return fmt.Errorf("cookie: same_site must be lax, strict or none, not %q", h.cookie.SameSite)
	}
	h.csrf = http.NewCrossOriginProtection()
	for _, o := range h.TrustedOrigins {
		if err := h.csrf.AddTrustedOrigin(o); err != nil {
			return fmt.Errorf("trusted_origins: %w", err)
		}
	}
	for name, p := range map[string]string{"login": h.Login, "refresh": h.Refresh, "logout": h.Logout, "jwks_endpoint": h.JWKSEndpoint} {
		if p != "" && (p[0] != '/' || len(p) > 1 && p[1] == '/') {
			return fmt.Errorf("%s: must be an absolute path, not %q", name, p)
		}
	}
	if h.Refresh != "" && h.refreshTTL == 0 {
		return errors.New("refresh: refresh tokens are off (refresh_ttl 0)")
	}

	h.endpoints = make(map[string]func(http.ResponseWriter, *http.Request) error)
	if h.Login != "" || h.Refresh != "" {
		if err := h.provisionLogin(); err != nil {
			return err
		}
	}
	if h.Logout != "" {
		h.endpoints[h.Logout] = h.serveLogout
	}
	if h.JWKSEndpoint != "" {
		h.endpoints[h.JWKSEndpoint] = h.serveJWKS
		h.endpoints["/.well-known/openid-configuration"] = h.serveDiscovery
	}
	return nil
}

// provisionLogin builds the users, the signing key, the rate limits and
// the login page.
func (h *Handler) provisionLogin() error {
	if len(h.Users) == 0 && h.UsersFile == "" {
		return errors.New("login: no users: add user lines or users_file")
	}
	users, err := newUserStore(h.Users, h.UsersFile, h.logger)
	if err != nil {
		return err
	}
	h.users = users
	if h.keys.ring.Load().signer == nil {
		return errors.New("login: no key can sign tokens: add key auto, a private key file or a secret")
	}
	limit := LoginLimit{Count: 5, Window: caddy.Duration(time.Minute)}
	if h.LoginLimit != nil {
		limit = *h.LoginLimit
	}
	if limit.Count < 1 || limit.Window <= 0 {
		return errors.New("login_limit: a count of at least 1 and a positive window are needed")
	}
	h.byIP = newFailureLimiter(limit.Count, time.Duration(limit.Window))
	h.byUser = newFailureLimiter(limit.Count, time.Duration(limit.Window))
	if h.loginPage, err = loadLoginPage(h.LoginPage); err != nil {
		return err
	}
	if h.Login != "" {
		h.endpoints[h.Login] = h.serveLogin
	}
	if h.Refresh != "" {
		h.endpoints[h.Refresh] = h.serveRefresh
	}
	return nil
}
