package caddyjwt

import (
	"fmt"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// keyRing answers, for a token's kid and alg, which keys may verify it. It
// is immutable once built: a new set of keys makes a new ring, so the hot
// path reads it without locks. Lookups are precomputed so that a token
// costs two map reads and no allocation.
type keyRing struct {
	keys     []*key
	byKid    map[string]*key // keys configured with an id
	byAlg    map[string]any  // tokens without kid: every key serving the alg
	anyByAlg map[string]any  // tokens whose kid no key claims: keys configured without an id
	remote   bool            // remote key sets may bring keys for other algs
	signer   *key            // the key that signs issued tokens, if any
	jwks     []byte          // the public keys as published at jwks_endpoint
}

func newKeyRing(keys []*key) (*keyRing, error) {
	ring := &keyRing{
		keys:     keys,
		byKid:    make(map[string]*key),
		byAlg:    make(map[string]any),
		anyByAlg: make(map[string]any),
		signer:   signingKey(keys),
	}
	for _, k := range keys {
		if k.anyKid {
			continue
		}
		if other, dup := ring.byKid[k.kid]; dup {
			return nil, fmt.Errorf("key: kid %q is used by both %s and %s", k.kid, other.origin, k.origin)
		}
		ring.byKid[k.kid] = k
	}
	for _, alg := range allAlgorithms {
		ring.byAlg[alg] = verificationKeys(keys, alg, false)
		ring.anyByAlg[alg] = verificationKeys(keys, alg, true)
	}
	var err error
	ring.jwks, err = publicJWKS(keys)
	return ring, err
}

// verificationKeys is what golang-jwt's key function returns for alg: one
// key, a VerificationKeySet tried in order, or nil when no key serves alg.
func verificationKeys(keys []*key, alg string, anyKidOnly bool) any {
	var set jwt.VerificationKeySet
	for _, k := range keys {
		if k.serves(alg) && (!anyKidOnly || k.anyKid) {
			set.Keys = append(set.Keys, k.public)
		}
	}
	switch len(set.Keys) {
	case 0:
		return nil
	case 1:
		return set.Keys[0]
	}
	return set
}

// accepts tells whether some key serves alg.
func (ring *keyRing) accepts(alg string) bool {
	return ring.byAlg[alg] != nil
}

// lookupKey picks the keys for a token's kid and alg: with a kid, the key
// with that id, else the keys configured without one; without a kid,
// every key that serves the alg. An alg that does not fit the key named
// by kid is refused: an RSA key never verifies HS256.
func (ring *keyRing) lookupKey(kid string, hasKid bool, alg string) (any, error) {
	if !hasKid {
		if v := ring.byAlg[alg]; v != nil {
			return v, nil
		}
		return nil, errAlgorithm
	}
	if k := ring.byKid[kid]; k != nil {
		if !k.serves(alg) {
			return nil, errAlgorithm
		}
		return k.public, nil
	}
	if v := ring.anyByAlg[alg]; v != nil {
		return v, nil
	}
	return nil, errUnknownKey
}

// refreshType is the typ header of refresh tokens.
const refreshType = "refresh+jwt"

func isRefreshType(typ string) bool {
	return strings.EqualFold(typ, refreshType) || strings.EqualFold(typ, "application/"+refreshType)
}

// signingKey is the key that signs issued tokens: the first private key,
// or else the HMAC secret. Remote keys never sign.
func signingKey(keys []*key) *key {
	var secret *key
	for _, k := range keys {
		if k.signer == nil || k.remote {
			continue
		}
		if _, isHMAC := k.signer.([]byte); !isHMAC {
			return k
		}
		if secret == nil {
			secret = k
		}
	}
	return secret
}
