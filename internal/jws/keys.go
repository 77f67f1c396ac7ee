package jws

import (
	"slices"
)

// Algorithms are the signature algorithms this package verifies, in a
// stable order. "none" is never one of them.
var Algorithms = []string{
	"HS256", "HS384", "HS512",
	"RS256", "RS384", "RS512",
	"PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512",
	"EdDSA",
}

// Key is one verification key.
type Key struct {
	// ID is the key id that tokens name in their kid header.
	ID string
	// AnyID marks a key configured without an id: it is tried for a kid
	// that no other key claims, and for tokens without a kid.
	AnyID bool
	// Algs are the algorithms the key serves; a token's alg must be one.
	Algs []string
	// Public is the key golang-jwt's signing method verifies with:
	// []byte (HMAC), *rsa.PublicKey, *ecdsa.PublicKey or
	// ed25519.PublicKey.
	Public any
	// Issuers, when set, are the only iss values this key speaks for:
	// a token it signed that names another issuer is refused. Nil: any.
	Issuers []string
}

// Serves tells whether the key serves alg.
func (k *Key) Serves(alg string) bool { return slices.Contains(k.Algs, alg) }

// speaksFor tells whether the key may sign for the issuer iss (the
// decoded iss claim, "" when absent or not a string).
func (k *Key) speaksFor(iss string, hasIss bool) bool {
	return k.Issuers == nil || hasIss && slices.Contains(k.Issuers, iss)
}

// KeySet answers, for a token's kid and alg, which keys may verify it. It
// is immutable once built, so readers need no lock; lookups are
// precomputed, so that picking a key costs a map read and no allocation.
type KeySet struct {
	byKid    map[string][]*Key // keys configured with an id, one each
	byAlg    map[string][]*Key // tokens without kid: every key serving the alg
	anyByAlg map[string][]*Key // tokens whose kid no key claims: keys without an id
	// remote says that keys may come later (remote key sets): an alg that
	// no key serves yet is then looked up rather than refused at once.
	remote bool
}

// NewKeySet builds a key set. A kid given to two keys names the first;
// callers that want that refused check it before. remote says that more
// keys may come later with a refetch (see ErrUnknownKey).
func NewKeySet(keys []*Key, remote bool) *KeySet {
	s := &KeySet{
		byKid:    make(map[string][]*Key),
		byAlg:    make(map[string][]*Key),
		anyByAlg: make(map[string][]*Key),
		remote:   remote,
	}
	for _, k := range keys {
		if _, dup := s.byKid[k.ID]; !k.AnyID && !dup {
			s.byKid[k.ID] = []*Key{k}
		}
		for _, alg := range k.Algs {
			s.byAlg[alg] = append(s.byAlg[alg], k)
			if k.AnyID {
				s.anyByAlg[alg] = append(s.anyByAlg[alg], k)
			}
		}
	}
	return s
}

// Accepts tells whether some key serves alg.
func (s *KeySet) Accepts(alg string) bool { return len(s.byAlg[alg]) > 0 }

// lookup picks the keys for a token's kid and alg: with a kid, the key
// with that id, else the keys configured without one; without a kid,
// every key that serves the alg. An alg that does not fit the key named
// by kid is refused: an RSA key never verifies HS256. A kid that no key
// has is ErrUnknownKey, which a caller with remote key sets may answer
// with a refetch.
func (s *KeySet) lookup(kid string, hasKid bool, alg string) ([]*Key, error) {
	if !hasKid {
		if keys := s.byAlg[alg]; len(keys) > 0 {
			return keys, nil
		}
		return nil, ErrAlgorithm
	}
	if keys := s.byKid[kid]; keys != nil {
		if !keys[0].Serves(alg) {
			return nil, ErrAlgorithm
		}
		return keys, nil
	}
	if keys := s.anyByAlg[alg]; len(keys) > 0 {
		return keys, nil
	}
	return nil, ErrUnknownKey
}
