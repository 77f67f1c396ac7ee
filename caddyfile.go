package caddyjwt

import (
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("jwt_auth", parseCaddyfile)
	httpcaddyfile.RegisterDirectiveOrder("jwt_auth", httpcaddyfile.After, "basic_auth")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	var handler Handler
	if err := handler.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	// The issuer is fixed here, at load, never taken from a request's
	// Host: without an issuer subdirective, a handler that issues tokens
	// or publishes keys names its site.
	if len(handler.Issuers) == 0 && (handler.Login != "" || handler.JWKSEndpoint != "") {
		if iss := siteIssuer(h); iss != "" {
			handler.Issuers = []string{iss}
		}
	}
	return &handler, nil
}

// siteIssuer is the origin of the site block the directive stands in,
// from its first address that names a host (not :8080, not a wildcard):
// the scheme written, else http for the HTTP port or with auto_https off,
// else https; the port when it is not the scheme's default. "" when no
// address names a host. The Caddyfile adapter does not hand the block's
// addresses to directives, so they are read from the helper's parent
// block; if that ever fails, the issuer subdirective is required.
func siteIssuer(h httpcaddyfile.Helper) string {
	keys := reflect.ValueOf(h).FieldByName("parentBlock").FieldByName("Keys")
	if !keys.IsValid() || keys.Kind() != reflect.Slice {
		return ""
	}
	httpPort := "80"
	if p, ok := h.Option("http_port").(int); ok {
		httpPort = strconv.Itoa(p)
	}
	autoHTTPSOff := false
	if modes, ok := h.Option("auto_https").([]string); ok {
		autoHTTPSOff = slices.Contains(modes, "off")
	}
	for i := range keys.Len() {
		text := keys.Index(i).FieldByName("Text")
		if !text.IsValid() || text.Kind() != reflect.String {
			return ""
		}
		addr, err := httpcaddyfile.ParseAddress(text.String())
		if err != nil || addr.Host == "" || strings.ContainsAny(addr.Host, "*{}") {
			continue
		}
		scheme := addr.Scheme
		if scheme == "" {
			scheme = "https"
			if addr.Port == httpPort || autoHTTPSOff {
				scheme = "http"
			}
		}
		host := addr.Host
		if strings.Contains(host, ":") {
			host = "[" + host + "]" // an IPv6 address
		}
		if addr.Port != "" && !(scheme == "https" && addr.Port == "443" || scheme == "http" && addr.Port == "80") {
			host += ":" + addr.Port
		}
		return scheme + "://" + host
	}
	return ""
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	jwt_auth [<matcher>] {
//		secret   <text>|base64:<b64>
//		key      <file> [<kid>]
//		key      auto [ES256|EdDSA|RS256] [{
//			rotate <duration>
//		}]
//		jwks     <url>
//		oidc     <issuer-url>
//		algorithms <alg>...
//		issuer   <iss>...
//		audience <aud>...
//		leeway   <duration>
//		allow_missing_exp
//		max_lifetime <duration>
//		require  <claim> [<value>...]
//		from     header|cookie|query <name>
//		optional
//		redirect <url>
//		except   <path>...
//		claim_header <claim> <header>
//		forward_token
//		identity_provider <name> <issuer-url> {
//			client_id     <id>
//			client_secret <secret>
//			scopes        <scope>...
//			allow         <claim> <value>...
//			claims        <claim>...
//		}
//
//		login    <path>
//		refresh  <path>
//		logout   <path>
//		jwks_endpoint <path>
//		user     <name> <hash>
//		users_file <path>
//		access_ttl  <duration>
//		refresh_ttl <duration>
//		session_ttl <duration>
//		refresh_grace <duration>
//		trusted_return <origin>...
//		cookie   [<name>] {
//			domain    <domain>
//			path      <path>
//			same_site lax|strict|none
//			insecure
//		}
//		login_limit <count> <window>
//		login_page  <file>
//		login_title <text>
//		trusted_origins <origin>...
//	}
//
// The parser checks syntax only (arity, numbers, durations, repeats);
// Validate checks the values, the same for the Caddyfile and JSON.
//
// List subdirectives (key, algorithms, issuer, audience, require, from,
// except, claim_header, user, trusted_origins, trusted_return,
// identity_provider) may be repeated; the others
// may be given once.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := make(map[string]bool)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		sub := d.Val()
		if seen[sub] && !repeatable[sub] {
			return d.Errf("%s: given more than once", sub)
		}
		seen[sub] = true
		if err := h.unmarshalSubdirective(d, sub); err != nil {
			return err
		}
	}
	return nil
}

// repeatable are the subdirectives that add to a list.
var repeatable = map[string]bool{
	"key": true, "jwks": true, "oidc": true, "algorithms": true, "issuer": true, "audience": true,
	"require": true, "from": true, "except": true, "claim_header": true,
	"user": true, "trusted_origins": true, "trusted_return": true, "identity_provider": true,
}

func (h *Handler) unmarshalSubdirective(d *caddyfile.Dispenser, sub string) error {
	args := d.RemainingArgs()
	switch sub {
	case "secret":
		if len(args) != 1 {
			return d.Errf("secret: one value expected")
		}
		h.Secret = args[0]
	case "key":
		if len(args) < 1 || len(args) > 2 {
			return d.Errf("key: expected <file> [<kid>]")
		}
		kc := KeyConfig{File: args[0]}
		if len(args) == 2 {
			kc.KID = args[1]
		}
		if args[0] == "auto" {
			kc = KeyConfig{Auto: autoKeyAlgorithms[0]}
			if len(args) == 2 {
				kc.Auto = args[1]
			}
			if err := unmarshalAutoKey(d, &kc); err != nil {
				return err
			}
		}
		h.Keys = append(h.Keys, kc)
	case "jwks", "oidc":
		if len(args) != 1 {
			return d.Errf("%s: one URL expected", sub)
		}
		if sub == "jwks" {
			h.JWKS = append(h.JWKS, args[0])
		} else {
			h.OIDC = append(h.OIDC, args[0])
		}
	case "algorithms":
		if len(args) == 0 {
			return d.Errf("algorithms: at least one algorithm expected")
		}
		h.Algorithms = append(h.Algorithms, args...)
	case "issuer":
		if len(args) == 0 {
			return d.Errf("issuer: at least one issuer expected")
		}
		h.Issuers = append(h.Issuers, args...)
	case "audience":
		if len(args) == 0 {
			return d.Errf("audience: at least one audience expected")
		}
		h.Audiences = append(h.Audiences, args...)
	case "leeway", "max_lifetime", "access_ttl", "refresh_ttl", "session_ttl", "refresh_grace":
		if len(args) != 1 {
			return d.Errf("%s: one duration expected", sub)
		}
		dur, err := caddy.ParseDuration(args[0])
		if err != nil {
			return d.Errf("%s: invalid duration %q", sub, args[0])
		}
		value := caddy.Duration(dur)
		switch sub {
		case "leeway":
			h.Leeway = &value
		case "max_lifetime":
			h.MaxLifetime = value
		case "access_ttl":
			if dur == 0 { // in JSON, 0 is the default: refused here rather than silently 15m
				return d.Errf("access_ttl: must be positive")
			}
			h.AccessTTL = value
		case "refresh_ttl":
			h.RefreshTTL = &value
		case "session_ttl":
			if dur == 0 { // as access_ttl: 0 would read as the default
				return d.Errf("session_ttl: must be positive")
			}
			h.SessionTTL = value
		case "refresh_grace":
			h.RefreshGrace = &value
		}
	case "allow_missing_exp", "optional", "forward_token":
		if len(args) != 0 {
			return d.Errf("%s: takes no arguments", sub)
		}
		*map[string]*bool{"optional": &h.Optional, "allow_missing_exp": &h.AllowMissingExp, "forward_token": &h.ForwardToken}[sub] = true
	case "require":
		if len(args) == 0 {
			return d.Errf("require: expected <claim> [<value>...]")
		}
		h.Require = append(h.Require, ClaimRule{Claim: args[0], Values: args[1:]})
	case "from":
		if len(args) != 2 {
			return d.Errf("from: expected header|cookie|query <name>")
		}
		h.From = append(h.From, TokenSource{Source: args[0], Name: args[1]})
	case "redirect":
		if len(args) != 1 {
			return d.Errf("redirect: one URL expected")
		}
		h.Redirect = args[0]
	case "except":
		if len(args) == 0 {
			return d.Errf("except: at least one path expected")
		}
		h.Except = append(h.Except, args...)
	case "claim_header":
		if len(args) != 2 {
			return d.Errf("claim_header: expected <claim> <header>")
		}
		h.ClaimHeaders = append(h.ClaimHeaders, ClaimHeader{Claim: args[0], Header: args[1]})
	case "login", "refresh", "logout", "jwks_endpoint", "users_file", "login_page", "login_title":
		if len(args) != 1 {
			return d.Errf("%s: one value expected", sub)
		}
		*map[string]*string{
			"login": &h.Login, "refresh": &h.Refresh, "logout": &h.Logout, "jwks_endpoint": &h.JWKSEndpoint,
			"users_file": &h.UsersFile, "login_page": &h.LoginPage, "login_title": &h.LoginTitle,
		}[sub] = args[0]
	case "user":
		if len(args) != 2 {
			return d.Errf("user: expected <name> <hash>")
		}
		h.Users = append(h.Users, User{Name: args[0], Password: args[1]})
	case "login_limit":
		if len(args) != 2 {
			return d.Errf("login_limit: expected <count> <window>")
		}
		count, err := strconv.Atoi(args[0])
		window, werr := caddy.ParseDuration(args[1])
		if err != nil || werr != nil {
			return d.Errf("login_limit: expected a positive count and window, not %q %q", args[0], args[1])
		}
		h.LoginLimit = &LoginLimit{Count: count, Window: caddy.Duration(window)}
	case "trusted_origins", "trusted_return":
		if len(args) == 0 {
			return d.Errf("%s: at least one origin expected", sub)
		}
		list := map[string]*[]string{"trusted_origins": &h.TrustedOrigins, "trusted_return": &h.TrustedReturn}[sub]
		*list = append(*list, args...)
	case "cookie":
		return h.unmarshalCookie(d, args)
	case "identity_provider":
		return h.unmarshalIdentityProvider(d, args)
	default:
		return d.Errf("unknown subdirective %q", sub)
	}
	return nil
}

// unmarshalAutoKey reads the optional block of `key auto`: `rotate <duration>`.
func unmarshalAutoKey(d *caddyfile.Dispenser, kc *KeyConfig) error {
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt, args := d.Val(), d.RemainingArgs()
		if opt != "rotate" {
			return d.Errf("key auto: unknown option %q", opt)
		}
		var dur time.Duration
		var err error
		if len(args) == 1 {
			dur, err = caddy.ParseDuration(args[0])
		}
		if len(args) != 1 || err != nil || dur == 0 { // 0 is never in JSON: refused rather than silently never
			return d.Errf("key auto: rotate expects one positive duration")
		}
		kc.Rotate = caddy.Duration(dur)
	}
	return nil
}

// unmarshalCookie reads `cookie [<name>] { ... }`.
func (h *Handler) unmarshalCookie(d *caddyfile.Dispenser, args []string) error {
	if len(args) > 1 {
		return d.Errf("cookie: expected [<name>] and a block")
	}
	c := &CookieConfig{}
	if len(args) == 1 {
		c.Name = args[0]
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		optArgs := d.RemainingArgs()
		switch opt {
		case "domain", "path", "same_site":
			if len(optArgs) != 1 {
				return d.Errf("cookie: %s: one value expected", opt)
			}
			switch opt {
			case "domain":
				c.Domain = optArgs[0]
			case "path":
				c.Path = optArgs[0]
			case "same_site":
				c.SameSite = optArgs[0]
			}
		case "insecure":
			if len(optArgs) != 0 {
				return d.Errf("cookie: insecure takes no arguments")
			}
			c.Insecure = true
		default:
			return d.Errf("cookie: unknown option %q", opt)
		}
	}
	h.Cookie = c
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)
