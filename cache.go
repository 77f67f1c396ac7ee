package caddyjwt

import (
	"hash/maphash"
	"math"
	"sync"
	"time"
)

// The verified-token cache holds at most cacheShards × cacheShardSize
// tokens.
const (
	cacheShards    = 16
	cacheShardSize = 512
)

// tokenCache remembers tokens whose signature and claims were checked, so
// that a token presented again skips the signature check. It never admits
// what a full check would now refuse:
//
//   - an entry is used only within the token's own time window (exp, nbf
//     and iat, with the leeway), and only for exactly the same token text;
//   - an entry is used only with the key ring it was verified with, so any
//     change of keys (rotation, a remote set refreshed, a key removed)
//     sends every token through a full check again;
//   - revocation is checked by the caller on every hit.
//
// Sharded so that requests rarely wait on one another; bounded, dropping
// expired entries first.
type tokenCache struct {
	seed   maphash.Seed
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[uint64]*cacheEntry
}

type cacheEntry struct {
	raw       string
	id        *identity
	ring      *keyRing
	notBefore int64 // unix nanoseconds: the token is valid from here ...
	expires   int64 // ... until here, leeway included
}

func newTokenCache() *tokenCache {
	c := &tokenCache{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = make(map[uint64]*cacheEntry, cacheShardSize)
	}
	return c
}

func (c *tokenCache) shard(raw string) (*cacheShard, uint64) {
	sum := maphash.String(c.seed, raw)
	return &c.shards[sum%cacheShards], sum
}

// get returns the identity of a token verified before with this ring and
// still within its time window; nil otherwise. A nil cache holds nothing.
func (c *tokenCache) get(raw string, ring *keyRing, t time.Time) *identity {
	if c == nil {
		return nil
	}
	s, sum := c.shard(raw)
	s.mu.RLock()
	e := s.m[sum]
	s.mu.RUnlock()
	if e == nil || e.raw != raw || e.ring != ring {
		return nil
	}
	if n := t.UnixNano(); n < e.notBefore || n >= e.expires {
		return nil
	}
	return e.id
}

// put remembers a token that passed a full check with ring.
func (c *tokenCache) put(raw string, id *identity, ring *keyRing, leeway time.Duration) {
	if c == nil {
		return
	}
	e := &cacheEntry{raw: raw, id: id, ring: ring, notBefore: math.MinInt64, expires: math.MaxInt64}
	if id.exp != nil {
		e.expires = id.exp.Add(leeway).UnixNano()
	}
	if id.notBefore != nil {
		e.notBefore = id.notBefore.Add(-leeway).UnixNano()
	}
	s, sum := c.shard(raw)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= cacheShardSize {
		s.evict(now().UnixNano())
	}
	s.m[sum] = e
}

// evict makes room: it drops expired entries, or else one at random (map
// iteration starts at a random place). Callers hold mu.
func (s *cacheShard) evict(t int64) {
	dropped := false
	for sum, e := range s.m {
		if t >= e.expires {
			delete(s.m, sum)
			dropped = true
		}
	}
	if dropped {
		return
	}
	for sum := range s.m {
		delete(s.m, sum)
		return
	}
}
