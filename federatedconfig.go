package caddyjwt

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// IdentityProvider is an OpenID Connect provider that people sign in
// with ("Sign in with <name>") instead of a password: GET <login>/<name>
// starts an authorization-code flow with PKCE, and the provider sends the
// browser back to <site origin><login>/<name>/callback, the redirect URI
// to register with it. A person the allow rules accept is signed in as
// with a password, with sub "<name>:<provider sub>" and the claim idp =
// <name>.
type IdentityProvider struct {
	// Name names the provider on the login page and in the paths and the
	// sub of its people: letters, digits, '-' and '_'.
	Name string `json:"name,omitempty"`

	// Issuer is the provider's issuer URL, whose
	// /.well-known/openid-configuration is read; the ID tokens' iss must
	// equal it. https, or http for loopback hosts only.
	Issuer string `json:"issuer,omitempty"`

	// ClientID is the client id registered with the provider.
	ClientID string `json:"client_id,omitempty"`

	// ClientSecret is the client secret registered with the provider.
	// Global placeholders such as {env.OIDC_SECRET} are resolved when the
	// handler is provisioned.
	ClientSecret string `json:"client_secret,omitempty"`

	// Scopes are the scopes asked for. Default: openid email profile
	// (openid is always asked for).
	Scopes []string `json:"scopes,omitempty"`

	// Allow are the rules that decide who may sign in: all must hold on
	// the claims of the ID token (and of the userinfo endpoint, for claims
	// the ID token lacks), with the semantics of require. An email whose
	// email_verified is not true never matches. At least one is required:
	// there is no open sign-up. They are checked again at every refresh.
	Allow []ClaimRule `json:"allow,omitempty"`

	// Claims are the claims copied from the ID token (or userinfo) into
	// the tokens issued. An unverified email is never copied. Default:
	// email name.
	Claims []string `json:"claims,omitempty"`
}

// defaultScopes and defaultCopiedClaims are the defaults of scopes and
// claims.
var (
	defaultScopes       = []string{"openid", "email", "profile"}
	defaultCopiedClaims = []string{"email", "name"}
)

// maxProviderName bounds a provider's name: it goes into paths, cookies
// and every sub of its people.
const maxProviderName = 64

// setClaims are the claims caddyjwt writes into a federated login's
// tokens itself, which claims may not name.
var setClaims = append(slices.Clone(registeredClaims), "idp", "amr")

// Validate checks a provider's config. Errors name the subdirective.
func (p IdentityProvider) Validate() error {
	if err := checkProviderName(p.Name); err != nil {
		return fmt.Errorf("identity_provider: %w", err)
	}
	where := "identity_provider " + p.Name
	if err := checkRemoteURL(p.Issuer); err != nil {
		return fmt.Errorf("%s: issuer: %w", where, err)
	}
	if p.ClientID == "" {
		return fmt.Errorf("%s: client_id is required", where)
	}
	if p.ClientSecret == "" {
		return fmt.Errorf("%s: client_secret is required", where)
	}
	if len(p.Allow) == 0 {
		return fmt.Errorf("%s: allow is required (at least one rule saying who may sign in, such as allow email you@example.com)", where)
	}
	for _, rule := range p.Allow {
		if rule.Claim == "" || len(rule.Values) == 0 {
			return fmt.Errorf("%s: allow: expected <claim> <value>...", where)
		}
	}
	for _, s := range p.Scopes {
		if s == "" || strings.ContainsAny(s, " \t\r\n") {
			return fmt.Errorf("%s: scopes: %q is not a scope", where, s)
		}
	}
	for _, c := range p.Claims {
		if c == "" || slices.Contains(setClaims, c) {
			return fmt.Errorf("%s: claims: %q cannot be copied (caddyjwt sets %s itself)", where, c, strings.Join(setClaims, ", "))
		}
	}
	return nil
}

// checkProviderName allows a URL-safe word: it becomes a path segment, a
// cookie path and the prefix of sub.
func checkProviderName(name string) error {
	if name == "" || len(name) > maxProviderName {
		return fmt.Errorf("a name of 1 to %d characters is needed, not %q", maxProviderName, name)
	}
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("name %q: only letters, digits, '-' and '_' are allowed", name)
		}
	}
	return nil
}

// validateProviders checks the identity providers against the rest of
// the issuer's config: unique names, a login to hang their paths on,
// paths that no other endpoint takes, and no configured user whose name
// would read as one of their people.
func (c IssuerConfig) validateProviders() error {
	if len(c.IdentityProviders) == 0 {
		return nil
	}
	if c.Login == "" {
		return errors.New("identity_provider: needs login (its paths are <login>/<name> and <login>/<name>/callback)")
	}
	taken := map[string]string{c.Refresh: "refresh", c.Logout: "logout", c.JWKSEndpoint: "jwks_endpoint"}
	names := make(map[string]bool)
	for _, p := range c.IdentityProviders {
		if err := p.Validate(); err != nil {
			return err
		}
		if names[p.Name] {
			return fmt.Errorf("identity_provider %s: given more than once", p.Name)
		}
		names[p.Name] = true
		start := providerPath(c.Login, p.Name)
		for _, path := range []string{start, start + "/callback"} {
			if other := taken[path]; other != "" {
				return fmt.Errorf("identity_provider %s: its path %s is the %s endpoint", p.Name, path, other)
			}
		}
	}
	for _, u := range c.Users {
		if name, _, ok := strings.Cut(u.Name, ":"); ok && names[name] {
			return fmt.Errorf("user %s: a name starting with %q is reserved for identity_provider %s", quoteUserName(u.Name), name+":", name)
		}
	}
	return nil
}

// providerPath is where a provider's sign-in starts: <login>/<name>.
func providerPath(login, name string) string {
	return strings.TrimSuffix(login, "/") + "/" + name
}

// unmarshalIdentityProvider reads
//
//	identity_provider <name> <issuer-url> {
//		client_id     <id>
//		client_secret <secret>
//		scopes        <scope>...
//		allow         <claim> <value>...
//		claims        <claim>...
//	}
//
// allow may be repeated; the others may be given once.
func (h *Handler) unmarshalIdentityProvider(d *caddyfile.Dispenser, args []string) error {
	if len(args) != 2 {
		return d.Errf("identity_provider: expected <name> <issuer-url> and a block")
	}
	p := IdentityProvider{Name: args[0], Issuer: args[1]}
	seen := make(map[string]bool)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt, optArgs := d.Val(), d.RemainingArgs()
		if seen[opt] && opt != "allow" {
			return d.Errf("identity_provider %s: %s: given more than once", p.Name, opt)
		}
		seen[opt] = true
		switch opt {
		case "client_id", "client_secret":
			if len(optArgs) != 1 {
				return d.Errf("identity_provider %s: %s: one value expected", p.Name, opt)
			}
			*map[string]*string{"client_id": &p.ClientID, "client_secret": &p.ClientSecret}[opt] = optArgs[0]
		case "scopes", "claims":
			if len(optArgs) == 0 {
				return d.Errf("identity_provider %s: %s: at least one value expected", p.Name, opt)
			}
			*map[string]*[]string{"scopes": &p.Scopes, "claims": &p.Claims}[opt] = optArgs
		case "allow":
			if len(optArgs) < 2 {
				return d.Errf("identity_provider %s: allow: expected <claim> <value>...", p.Name)
			}
			p.Allow = append(p.Allow, ClaimRule{Claim: optArgs[0], Values: optArgs[1:]})
		default:
			return d.Errf("identity_provider %s: unknown option %q", p.Name, opt)
		}
	}
	h.IdentityProviders = append(h.IdentityProviders, p)
	return nil
}
