package caddyjwt

import (
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// The verified-token cache holds at most cacheShards × cacheShardSize
// tokens (65,536): a site's tens of thousands of active users each skip
// the signature check. A cached token costs, beside its text, 110 bytes
// of entry, slot and index and its identity (the decoded payload, copied
// out of the parse, and a few strings): 453 bytes in all for a 167-byte
// token with sub, jti, iat and exp (BenchmarkCacheEntryBytes), about
// 40 MiB for a full cache of such tokens with their text, some 80 MiB
// at 600 bytes.
const (
	cacheShards    = 64
	cacheShardSize = 1024
)

// cacheEnv, set to "off" in Caddy's environment, turns the cache off for
// every handler provisioned after: a benchmarking aid, so that a load test
// can measure what the cache is worth (bench/load.sh MODE=many). It is no
// setting and nothing else reads it.
const cacheEnv = "CADDYJWT_CACHE"

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
// Sharded so that requests rarely wait on one another. Each shard evicts
// by CLOCK (second chance): a hit marks its entry, and the hand that looks
// for room passes over marked entries once, clearing the mark, and takes
// the first unmarked or expired one. Popular tokens stay; one-off tokens
// (a scan, a flood of fresh logins) go first; an insert costs O(1)
// amortized, never a pass over the shard.
type tokenCache struct {
	seed   maphash.Seed
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	mu    sync.RWMutex
	index map[uint64]int32 // token hash → slot
	slots []*cacheEntry    // up to cacheShardSize, in the order the hand visits
	hand  int
}

type cacheEntry struct {
	sum       uint64
	raw       string
	id        *identity
	ring      *keyRing
	notBefore int64 // unix nanoseconds: the token is valid from here ...
	expires   int64 // ... until here, leeway included
	used      atomic.Bool
}

func newTokenCache() *tokenCache {
	c := &tokenCache{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].index = make(map[uint64]int32)
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
	var e *cacheEntry
	if i, ok := s.index[sum]; ok {
		e = s.slots[i]
	}
	s.mu.RUnlock()
	if e == nil || e.raw != raw || e.ring != ring {
		return nil
	}
	if n := t.UnixNano(); n < e.notBefore || n >= e.expires {
		return nil
	}
	if !e.used.Load() { // a write only when the mark changes
		e.used.Store(true)
	}
	return e.id
}

// put remembers a token that passed a full check with ring.
func (c *tokenCache) put(raw string, id *identity, ring *keyRing, leeway time.Duration) {
	if c == nil {
		return
	}
	s, sum := c.shard(raw)
	e := &cacheEntry{sum: sum, raw: raw, id: id, ring: ring, notBefore: math.MinInt64, expires: math.MaxInt64}
	if id.exp != nil {
		e.expires = id.exp.Add(leeway).UnixNano()
	}
	if id.notBefore != nil {
		e.notBefore = id.notBefore.Add(-leeway).UnixNano()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if i, ok := s.index[sum]; ok {
		s.slots[i] = e
		return
	}
	if len(s.slots) < cacheShardSize {
		s.index[sum] = int32(len(s.slots))
		s.slots = append(s.slots, e)
		return
	}
	i := s.victim(now().UnixNano())
	delete(s.index, s.slots[i].sum)
	s.slots[i] = e
	s.index[sum] = int32(i)
}

// victim moves the hand to the first slot whose entry is expired or was
// not used since the hand last passed, clearing marks on the way. Every
// mark is cleared within one turn, so it stops within two. Callers hold
// mu.
func (s *cacheShard) victim(t int64) int {
	for {
		i := s.hand
		s.hand = (s.hand + 1) % len(s.slots)
		e := s.slots[i]
		if t >= e.expires || !e.used.Load() {
			return i
		}
		e.used.Store(false)
	}
}

// len counts the entries, for tests.
func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		c.shards[i].mu.RLock()
		n += len(c.shards[i].slots)
		c.shards[i].mu.RUnlock()
	}
	return n
}
