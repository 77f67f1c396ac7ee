package caddyjwt

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/go-jose/go-jose/v4"
)

// publicJWKS is the JWK set published at jwks_endpoint: every asymmetric
// key of this handler (retired auto keys too, while tokens they signed
// live), with its kid, the alg it signs with, and use "sig". HMAC secrets
// and keys fetched from elsewhere are never published.
func publicJWKS(keys []*key) ([]byte, error) {
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, k := range keys {
		if _, isHMAC := k.public.([]byte); isHMAC || k.remote {
			continue
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.public, KeyID: k.kid, Algorithm: k.algs[0], Use: "sig"})
	}
	return json.Marshal(set)
}

// serveJWKS answers the public keys; HMAC secrets are never published.
func (is *issuer) serveJWKS(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return methodNotAllowed(w, "GET, HEAD")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Access-Control-Allow-Origin", "*") // public keys: any origin may read them
	_, err := w.Write(is.jwks())
	return err
}

// serveDiscovery answers /.well-known/openid-configuration, so that
// another Caddy can verify these tokens with `oidc <issuer>`: the issuer
// fixed at load, and the JWKS on its origin — never the request's Host.
func (is *issuer) serveDiscovery(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return methodNotAllowed(w, "GET, HEAD")
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	return writeJSON(w, http.StatusOK, map[string]string{
		"issuer":   is.name,
		"jwks_uri": strings.TrimSuffix(refreshAudience([]string{is.name}, ""), "/") + is.JWKSEndpoint,
	})
}
