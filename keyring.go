package caddyjwt

import (
	"fmt"

	"github.com/caddyjwt/caddyjwt/internal/jws"
)

// keyRing is one generation of the handler's keys: the set the token
// package verifies with, the key that signs, and the JWKS published. It
// is immutable once built: a new set of keys makes a new ring, so the hot
// path reads it without locks, and the verified-token cache can tell a
// token checked with older keys by its ring.
type keyRing struct {
	keys []*key
	set  *jws.KeySet // what verifies access tokens
	// refreshSet verifies refresh tokens: the refresh secrets of the
	// local keys, under the kid refreshKid gives them.
	refreshSet *jws.KeySet
	signer     *key   // the key that signs issued tokens, if any
	jwks       []byte // the public keys as published at jwks_endpoint
}

// newKeyRing builds a ring. remote says that remote key sets may bring
// keys for more algorithms later. A kid used by two keys is refused.
func newKeyRing(keys []*key, remote bool) (*keyRing, error) {
	byKid := make(map[string]*key)
	verifying := make([]*jws.Key, 0, len(keys))
	for _, k := range keys {
		if !k.anyKid {
			if other, dup := byKid[k.kid]; dup {
				return nil, fmt.Errorf("key: kid %q is used by both %s and %s", k.kid, other.origin, k.origin)
			}
			byKid[k.kid] = k
		}
		verifying = append(verifying, &jws.Key{ID: k.kid, AnyID: k.anyKid, Algs: k.algs, Public: k.public, Issuers: k.issuers})
	}
	var refresh []*jws.Key
	for _, k := range keys {
		if len(k.refreshSecret) >= minSecretBytes { // never an empty or short HMAC key
			refresh = append(refresh, &jws.Key{ID: refreshKid(k), Algs: []string{"HS256"}, Public: k.refreshSecret, Issuers: k.issuers})
		}
	}
	ring := &keyRing{
		keys: keys, set: jws.NewKeySet(verifying, remote), refreshSet: jws.NewKeySet(refresh, false),
		signer: signingKey(keys),
	}
	var err error
	ring.jwks, err = publicJWKS(keys)
	return ring, err
}

// refreshKid is the kid of the refresh tokens a key issues.
func refreshKid(k *key) string { return "refresh." + k.kid }

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
