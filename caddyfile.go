package caddyjwt

import (
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
	err := handler.UnmarshalCaddyfile(h.Dispenser)
	return &handler, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	jwt_auth [<matcher>] {
//		secret   <text>|base64:<b64>
//		key      <file> [<kid>]
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
//	}
//
// List subdirectives (key, algorithms, issuer, audience, require, from,
// except, claim_header) may be repeated; the others may be given once.
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
	"key": true, "algorithms": true, "issuer": true, "audience": true,
	"require": true, "from": true, "except": true, "claim_header": true,
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
		h.Keys = append(h.Keys, kc)
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
	case "leeway", "max_lifetime":
		if len(args) != 1 {
			return d.Errf("%s: one duration expected", sub)
		}
		dur, err := caddy.ParseDuration(args[0])
		if err != nil || dur < 0 {
			return d.Errf("%s: invalid duration %q", sub, args[0])
		}
		if sub == "leeway" {
			leeway := caddy.Duration(dur)
			h.Leeway = &leeway
		} else {
			h.MaxLifetime = caddy.Duration(dur)
		}
	case "allow_missing_exp", "optional":
		if len(args) != 0 {
			return d.Errf("%s: takes no arguments", sub)
		}
		if sub == "optional" {
			h.Optional = true
		} else {
			h.AllowMissingExp = true
		}
	case "require":
		if len(args) == 0 {
			return d.Errf("require: expected <claim> [<value>...]")
		}
		h.Require = append(h.Require, ClaimRule{Claim: args[0], Values: args[1:]})
	case "from":
		if len(args) != 2 {
			return d.Errf("from: expected header|cookie|query <name>")
		}
		src := TokenSource{Source: args[0], Name: args[1]}
		if err := src.validate(); err != nil {
			return d.Errf("from: %v", err)
		}
		h.From = append(h.From, src)
	case "redirect":
		if len(args) != 1 {
			return d.Errf("redirect: one URL expected")
		}
		if err := checkAbsoluteURL(args[0]); err != nil {
			return d.Errf("redirect: %v", err)
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
		ch := ClaimHeader{Claim: args[0], Header: args[1]}
		if err := ch.validate(); err != nil {
			return d.Errf("claim_header: %v", err)
		}
		h.ClaimHeaders = append(h.ClaimHeaders, ch)
	default:
		return d.Errf("unknown subdirective %q", sub)
	}
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)
