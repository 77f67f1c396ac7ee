package caddyjwt

import (
	"encoding/json"

	"github.com/go-jose/go-jose/v4"
)

// publicJWKS is the JWK set published at jwks_endpoint: every asymmetric
// key, with its kid, the alg it signs with, and use "sig". HMAC secrets
// are never published.
func publicJWKS(ring *keyRing) ([]byte, error) {
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, k := range ring.keys {
		if _, isHMAC := k.public.([]byte); isHMAC {
			continue
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.public, KeyID: k.kid, Algorithm: k.algs[0], Use: "sig"})
	}
	return json.Marshal(set)
}
