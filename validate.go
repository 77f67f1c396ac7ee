package caddyjwt

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// Validate checks the configuration: everything that can be told from
// the config alone, whether it came from the Caddyfile or from JSON.
// Errors name the subdirective. Provision calls it first, so that nothing
// is built from a config it refuses.
func (h Handler) Validate() error {
	for _, kc := range h.Keys {
		if err := kc.Validate(); err != nil {
			return err
		}
	}
	for _, u := range h.JWKS {
		if err := checkRemoteURL(u); err != nil {
			return fmt.Errorf("jwks: %w", err)
		}
	}
	for _, iss := range h.OIDC {
		if err := checkRemoteURL(iss); err != nil {
			return fmt.Errorf("oidc: %w", err)
		}
	}
	if h.Leeway != nil && *h.Leeway < 0 {
		return fmt.Errorf("leeway: invalid duration %q: must not be negative", time.Duration(*h.Leeway).String())
	}
	if h.Leeway != nil && time.Duration(*h.Leeway) > maxLeeway {
		return fmt.Errorf("leeway: %s is more than the %s allowed", time.Duration(*h.Leeway), maxLeeway)
	}
	if h.MaxLifetime < 0 {
		return fmt.Errorf("max_lifetime: invalid duration %q: must not be negative", time.Duration(h.MaxLifetime).String())
	}
	for _, rule := range h.Require {
		if rule.Claim == "" {
			return fmt.Errorf("require: a claim name is needed")
		}
	}
	for _, s := range h.From {
		if err := s.validate(); err != nil {
			return fmt.Errorf("from: %w", err)
		}
	}
	if h.Redirect != "" {
		if err := checkAbsoluteURL(h.Redirect); err != nil {
			return fmt.Errorf("redirect: %w", err)
		}
	}
	for _, ch := range h.ClaimHeaders {
		if err := ch.validate(); err != nil {
			return fmt.Errorf("claim_header: %w", err)
		}
	}
	if err := h.IssuerConfig.Validate(); err != nil {
		return err
	}
	return h.validateIssuer()
}

// Validate checks one key: a file, or key auto with one of its algorithms
// and no file, kid or negative rotation.
func (kc KeyConfig) Validate() error {
	if kc.Auto == "" {
		if kc.File == "" || kc.Rotate != 0 {
			return errors.New("key: a file is needed (rotate is for key auto)")
		}
		return nil
	}
	if kc.File != "" || kc.KID != "" {
		return errors.New("key auto: takes no file and no kid")
	}
	if !slices.Contains(autoKeyAlgorithms, kc.Auto) {
		return fmt.Errorf("key auto: algorithm must be one of %s, not %q", strings.Join(autoKeyAlgorithms, ", "), kc.Auto)
	}
	if kc.Rotate < 0 {
		return fmt.Errorf("key auto: rotate expects a positive duration, not %s", time.Duration(kc.Rotate))
	}
	return nil
}

// Interface guards
var (
	_ caddy.Validator = Handler{}
	_ caddy.Validator = KeyConfig{}
)

// validateIssuer checks that the issuer is fixed at load: a handler that
// issues tokens or publishes keys writes and announces its issuer, which
// the Caddyfile takes from the site's address (see siteIssuer) and JSON
// must give; and a handler that verifies key auto tokens without issuing
// them must say whose it accepts, since every site on the storage shares
// the key.
func (h Handler) validateIssuer() error {
	if len(h.Issuers) > 0 {
		return nil
	}
	if h.Login != "" || h.JWKSEndpoint != "" {
		return errors.New("issuer: needed when the site's address names no host (the issuer that login and jwks_endpoint write is fixed at load, never taken from a request)")
	}
	for _, kc := range h.Keys {
		if kc.Auto != "" {
			return errors.New("issuer: needed with key auto when this handler serves no login (the key is shared by every site on the storage: name the issuer whose tokens are accepted here)")
		}
	}
	return nil
}
