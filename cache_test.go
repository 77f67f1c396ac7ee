package caddyjwt

import (
	"context"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestCacheNeverAdmitsWhatAFullCheckRefuses holds the verified-token
// cache to its promise: a hit is only a shortcut for a check that would
// pass now.
func TestCacheNeverAdmitsWhatAFullCheckRefuses(t *testing.T) {
	h := mustProvision(t, "jwt_auth {\n secret "+testSecret+"\n leeway 0\n}")
	defer func(orig func() time.Time) { now = orig }(now)
	start := time.Now()
	now = func() time.Time { return start }
	tok := mint(t, "HS256", []byte(testSecret), jwt.MapClaims{
		"sub": "alice", "jti": "j1", "sid": "s1", "exp": start.Add(time.Minute).Unix(), "nbf": start.Add(-time.Second).Unix(),
	}, nil)

	if res := serve(t, h, bearer(tok)); res.status != 0 {
		t.Fatalf("first use: %d", res.status)
	}
	if h.cache.get(tok, h.keys.ring.Load(), now()) == nil {
		t.Fatal("a verified token was not cached")
	}

	t.Run("expiry", func(t *testing.T) {
		now = func() time.Time { return start.Add(61 * time.Second) }
		defer func() { now = func() time.Time { return start } }()
		if res := serve(t, h, bearer(tok)); res.status != 401 {
			t.Errorf("an expired token passed from the cache: %d", res.status)
		}
	})
	t.Run("not yet valid", func(t *testing.T) {
		now = func() time.Time { return start.Add(-10 * time.Second) }
		defer func() { now = func() time.Time { return start } }()
		if res := serve(t, h, bearer(tok)); res.status != 401 {
			t.Errorf("a token before its nbf passed from the cache: %d", res.status)
		}
	})
	t.Run("one byte different", func(t *testing.T) {
		i := len(tok) - 10 // inside the signature
		other := byte('A')
		if tok[i] == 'A' {
			other = 'B'
		}
		if res := serve(t, h, bearer(tok[:i]+string(other)+tok[i+1:])); res.status != 401 {
			t.Errorf("a changed token passed: %d", res.status)
		}
	})
	t.Run("key change", func(t *testing.T) {
		ring := h.keys.ring.Load()
		h.rebuildRing() // any change of keys makes a new ring
		if h.cache.get(tok, h.keys.ring.Load(), now()) != nil {
			t.Error("a cache entry survived a change of keys")
		}
		h.keys.ring.Store(ring)
	})
	t.Run("revocation", func(t *testing.T) {
		if res := serve(t, h, bearer(tok)); res.status != 0 {
			t.Fatalf("before revocation: %d", res.status)
		}
		if err := h.revocations.revoke(context.Background(), "s1", start.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if res := serve(t, h, bearer(tok)); res.status != 401 {
			t.Errorf("a revoked login passed from the cache: %d", res.status)
		}
	})
}

// TestCacheIsBounded fills the cache past its size.
func TestCacheIsBounded(t *testing.T) {
	c := newTokenCache()
	id := &identity{}
	ring := &keyRing{}
	for i := range cacheShards * cacheShardSize * 2 {
		c.put(string(rune(i))+"token", id, ring, 0)
	}
	total := 0
	for i := range c.shards {
		total += len(c.shards[i].m)
	}
	if total > cacheShards*cacheShardSize {
		t.Errorf("%d entries, at most %d", total, cacheShards*cacheShardSize)
	}
}
