package caddyjwt

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// IssuerConfig is the part of the handler's config that issues tokens:
// the login, refresh, logout and JWKS endpoints, which the handler answers
// itself. Its fields sit inline in the handler's JSON.
type IssuerConfig struct {
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
	// stops parsing keeps the last good users; at load, a file that is
	// empty or does not parse is an error. Config users win over file
	// users of the same name.
	UsersFile string `json:"users_file,omitempty"`

	// AccessTTL is the lifetime of access tokens. Default: 15m.
	AccessTTL caddy.Duration `json:"access_ttl,omitempty"`

	// RefreshTTL is the lifetime of refresh tokens, the idle limit of a
	// login: each refresh starts it again. 0 turns refresh tokens off.
	// Default: 168h.
	RefreshTTL *caddy.Duration `json:"refresh_ttl,omitempty"`

	// SessionTTL is the absolute limit of a login, counted from sign-in:
	// no refresh token, access token or cookie of the login outlives it.
	// Default: 720h.
	SessionTTL caddy.Duration `json:"session_ttl,omitempty"`

	// RefreshGrace is how long a refresh token that was just spent still
	// refreshes (two tabs racing to refresh one login both stay signed
	// in); presented later, it is reuse and revokes the login. Default:
	// 10s; at most 5m.
	RefreshGrace *caddy.Duration `json:"refresh_grace,omitempty"`

	// TrustedReturn are origins that the login, after signing in, may send
	// the browser back to (the return parameter), besides paths on this
	// site: an exact origin (https://app.example.com) or every subdomain
	// of a domain (https://*.example.com). Default: none.
	TrustedReturn []string `json:"trusted_return,omitempty"`

	// Cookie configures the access token cookie, which the guard also
	// reads. The refresh cookie is named <name>_refresh.
	Cookie *CookieConfig `json:"cookie,omitempty"`

	// LoginLimit is how many failed logins are allowed per client IP and
	// per user name in a window. Default: 5 per 1m.
	LoginLimit *LoginLimit `json:"login_limit,omitempty"`

	// LoginPage is an html/template file replacing the built-in login
	// page; see the README for the fields it is given.
	LoginPage string `json:"login_page,omitempty"`

	// LoginTitle is what the built-in login page says you sign in to
	// ("Sign in to <title>"), and the Title given to a login_page
	// template. Default: the request's host, without its port.
	LoginTitle string `json:"login_title,omitempty"`

	// IdentityProviders are OpenID Connect providers that people may sign
	// in with instead of a password ("Sign in with <name>"); they count as
	// a user source for login. Default: none.
	IdentityProviders []IdentityProvider `json:"identity_providers,omitempty"`

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
	// lax. The refresh cookie is always lax (it rides only top-level GETs
	// from other sites, which change nothing).
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

// defaultLoginLimit is the login_limit when none is configured.
var defaultLoginLimit = LoginLimit{Count: 5, Window: caddy.Duration(time.Minute)}

var sameSiteModes = map[string]http.SameSite{
	"lax": http.SameSiteLaxMode, "strict": http.SameSiteStrictMode, "none": http.SameSiteNoneMode,
}

// Validate checks the issuer's config. Errors name the subdirective.
func (c IssuerConfig) Validate() error {
	for name, p := range map[string]string{"login": c.Login, "refresh": c.Refresh, "logout": c.Logout, "jwks_endpoint": c.JWKSEndpoint} {
		if p != "" && (p[0] != '/' || len(p) > 1 && p[1] == '/') {
			return fmt.Errorf("%s: must be an absolute path, not %q", name, p)
		}
	}
	if c.AccessTTL < 0 {
		return fmt.Errorf("access_ttl: must be positive, not %s", time.Duration(c.AccessTTL))
	}
	if c.RefreshTTL != nil && *c.RefreshTTL < 0 {
		return fmt.Errorf("refresh_ttl: invalid duration %q: must not be negative", time.Duration(*c.RefreshTTL).String())
	}
	if c.SessionTTL < 0 {
		return fmt.Errorf("session_ttl: must be positive, not %s", time.Duration(c.SessionTTL))
	}
	if c.RefreshGrace != nil && (*c.RefreshGrace < 0 || time.Duration(*c.RefreshGrace) > maxRefreshGrace) {
		return fmt.Errorf("refresh_grace: must be between 0 and %s, not %s", maxRefreshGrace, time.Duration(*c.RefreshGrace))
	}
	if _, err := newReturnOrigins(c.TrustedReturn); err != nil {
		return fmt.Errorf("trusted_return: %w", err)
	}
	if c.Refresh != "" && c.RefreshTTL != nil && *c.RefreshTTL == 0 {
		return errors.New("refresh: refresh tokens are off (refresh_ttl 0)")
	}
	if (c.Login != "" || c.Refresh != "") && len(c.Users) == 0 && c.UsersFile == "" && len(c.IdentityProviders) == 0 {
		return errors.New("login: no users: add user lines, users_file or identity_provider")
	}
	for _, u := range c.Users {
		if u.Name == "" {
			return errors.New("user: a name is needed")
		}
		if err := checkUserName(u.Name); err != nil {
			return fmt.Errorf("user %s: bad name: %w", quoteUserName(u.Name), err)
		}
		if _, err := parseTOTPSecret(u.TOTP); u.TOTP != "" && err != nil {
			return fmt.Errorf("user %s: bad totp secret: %w", quoteUserName(u.Name), err)
		}
	}
	if err := c.validateProviders(); err != nil {
		return err
	}
	if c.Cookie != nil {
		if err := c.Cookie.Validate(); err != nil {
			return fmt.Errorf("cookie: %w", err)
		}
	}
	if c.LoginLimit != nil {
		if err := c.LoginLimit.Validate(); err != nil {
			return fmt.Errorf("login_limit: %w", err)
		}
	}
	csrf := http.NewCrossOriginProtection()
	for _, o := range c.TrustedOrigins {
		if err := csrf.AddTrustedOrigin(o); err != nil {
			return fmt.Errorf("trusted_origins: %w", err)
		}
	}
	return nil
}

// Validate checks the cookie's options.
func (c CookieConfig) Validate() error {
	if _, ok := sameSiteModes[c.SameSite]; !ok && c.SameSite != "" {
		return fmt.Errorf("same_site must be lax, strict or none, not %q", c.SameSite)
	}
	return nil
}

// Validate checks the limit: at least one failure in a positive window.
func (l LoginLimit) Validate() error {
	if l.Count < 1 || l.Window <= 0 {
		return fmt.Errorf("expected a positive count and window, not %d %s", l.Count, time.Duration(l.Window))
	}
	return nil
}

// maxRefreshGrace bounds refresh_grace: the window in which a spent
// refresh token still works is a window for a thief too.
const maxRefreshGrace = 5 * time.Minute

// ttls are the lifetimes of access and refresh tokens, defaults filled
// in. Key auto rotation needs them before the issuer is built.
func (c IssuerConfig) ttls() (access, refresh time.Duration) {
	access = 15 * time.Minute
	if c.AccessTTL > 0 {
		access = time.Duration(c.AccessTTL)
	}
	refresh = 168 * time.Hour
	if c.RefreshTTL != nil {
		refresh = time.Duration(*c.RefreshTTL)
	}
	return access, refresh
}

// sessionLimits are the absolute limit of a login and the refresh
// grace, defaults filled in.
func (c IssuerConfig) sessionLimits() (session, grace time.Duration) {
	session = 720 * time.Hour
	if c.SessionTTL > 0 {
		session = time.Duration(c.SessionTTL)
	}
	grace = 10 * time.Second
	if c.RefreshGrace != nil {
		grace = time.Duration(*c.RefreshGrace)
	}
	return session, grace
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

// Interface guards
var (
	_ caddy.Validator = IssuerConfig{}
	_ caddy.Validator = CookieConfig{}
	_ caddy.Validator = LoginLimit{}
	_ caddy.Validator = IdentityProvider{}
)
