package caddyjwt

import (
	"bufio"
	"container/list"
	"context"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
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
	if total := c.len(); total > cacheShards*cacheShardSize {
		t.Errorf("%d entries, at most %d", total, cacheShards*cacheShardSize)
	}
}

// TestCacheKeepsPopularTokens: under a stream of one-off tokens, tokens
// used again and again stay (CLOCK gives them a second chance); random
// eviction would drop most of them.
func TestCacheKeepsPopularTokens(t *testing.T) {
	c := newTokenCache()
	ring := &keyRing{}
	id := &identity{}
	popular := make([]string, 2000)
	for i := range popular {
		popular[i] = "popular-" + strconv.Itoa(i)
		c.put(popular[i], id, ring, 0)
	}
	at := time.Now()
	for round := range 20 {
		for _, p := range popular {
			c.get(p, ring, at)
		}
		for i := range cacheShards * cacheShardSize / 4 {
			c.put("once-"+strconv.Itoa(round)+"-"+strconv.Itoa(i), id, ring, 0)
		}
	}
	kept := 0
	for _, p := range popular {
		if c.get(p, ring, at) != nil {
			kept++
		}
	}
	if kept < len(popular)*95/100 {
		t.Errorf("%d of %d popular tokens kept", kept, len(popular))
	}
}

// BenchmarkCacheZipf measures the cache's hit ratio on 100,000 and on
// 1,000,000 tokens whose popularity follows Zipf's law (s = 1.1), against
// an LRU of the same size given the same requests:
// go test -run '^$' -bench CacheZipf -benchtime 2000000x.
func BenchmarkCacheZipf(b *testing.B) {
	ring, id, at := &keyRing{}, &identity{}, time.Now()
	for _, distinct := range []int{100_000, 1_000_000} {
		tokens := make([]string, distinct)
		for i := range tokens {
			tokens[i] = "token-" + strconv.Itoa(i)
		}
		for _, policy := range []string{"clock", "lru"} {
			b.Run(fmt.Sprintf("%d/%s", distinct, policy), func(b *testing.B) {
				zipf := rand.NewZipf(rand.New(rand.NewSource(1)), 1.1, 1, uint64(distinct-1))
				c := newTokenCache()
				lru := newLRU(cacheShards * cacheShardSize)
				hits := 0
				for b.Loop() {
					tok := tokens[zipf.Uint64()]
					if policy == "lru" {
						if lru.get(tok) {
							hits++
						}
						continue
					}
					if c.get(tok, ring, at) != nil {
						hits++
					} else {
						c.put(tok, id, ring, 0)
					}
				}
				b.ReportMetric(float64(hits)/float64(b.N), "hit-ratio")
			})
		}
	}
}

// BenchmarkCacheManyTokens replays the request order of bench/load.sh
// MODE=many, as bench/manytokens.go writes it (100,000 tokens, Zipf
// s = 1.1, the same seed), and reports the cache's hit ratio over the
// first b.N requests of the measured order: "cold" from an empty cache;
// "warm" after the warm-up load.sh sends (each token of the history once,
// in the order of its last use); "history" after the whole history of
// 2,000,000 requests, the steady state the warm-up stands for; "lru" an
// LRU of the same size after that history. load.sh sends some 300,000
// requests to the cached site at its defaults:
// go test -run '^$' -bench CacheManyTokens -benchtime 300000x.
func BenchmarkCacheManyTokens(b *testing.B) {
	const distinct, history, picks = 100_000, 2_000_000, 2_000_000
	dir := b.TempDir()
	gen := func(args ...string) {
		args = append([]string{"run", "bench/manytokens.go", "-n", strconv.Itoa(distinct), "-s", "1.1"}, args...)
		if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
			b.Fatalf("go %v: %v\n%s", args, err, out)
		}
	}
	// One stream of draws: the history, then the measured order.
	gen("-history", "0", "-picks", strconv.Itoa(history+picks), "-order", filepath.Join(dir, "all.txt"))
	gen("-history", strconv.Itoa(history), "-picks", "0", "-warm", filepath.Join(dir, "warm.txt"),
		"-order", filepath.Join(dir, "none.txt"))
	all, warm := readInts(b, filepath.Join(dir, "all.txt")), readInts(b, filepath.Join(dir, "warm.txt"))
	past, order := all[:history], all[history:]
	tokens := make([]string, distinct)
	for i := range tokens {
		tokens[i] = "token-" + strconv.Itoa(i)
	}
	ring, id, at := &keyRing{}, &identity{}, time.Now()
	use := func(c *tokenCache, tok string) bool {
		if c.get(tok, ring, at) != nil {
			return true
		}
		c.put(tok, id, ring, 0)
		return false
	}
	for _, run := range []struct {
		name   string
		before []int
	}{{"cold", nil}, {"warm", warm}, {"history", past}, {"lru", past}} {
		b.Run(run.name, func(b *testing.B) {
			c, l := newTokenCache(), newLRU(cacheShards*cacheShardSize)
			lookup := func(tok string) bool { return use(c, tok) }
			if run.name == "lru" {
				lookup = l.get
			}
			for _, i := range run.before {
				lookup(tokens[i])
			}
			hits, n := 0, 0
			for b.Loop() {
				if lookup(tokens[order[n%len(order)]]) {
					hits++
				}
				n++
			}
			b.ReportMetric(float64(hits)/float64(n), "hit-ratio")
		})
	}
}

// readInts reads a file of one integer a line.
func readInts(b *testing.B, name string) []int {
	f, err := os.Open(name)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var out []int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		i, err := strconv.Atoi(sc.Text())
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, i)
	}
	if err := sc.Err(); err != nil {
		b.Fatal(err)
	}
	return out
}

// lru is a least-recently-used set, the yardstick of BenchmarkCacheZipf.
type lru struct {
	size  int
	order *list.List
	index map[string]*list.Element
}

func newLRU(size int) *lru {
	return &lru{size: size, order: list.New(), index: make(map[string]*list.Element)}
}

// get tells whether key was there, and makes it the most recent.
func (l *lru) get(key string) bool {
	if e, ok := l.index[key]; ok {
		l.order.MoveToFront(e)
		return true
	}
	if l.order.Len() >= l.size {
		delete(l.index, l.order.Remove(l.order.Back()).(string))
	}
	l.index[key] = l.order.PushFront(key)
	return false
}

// BenchmarkCacheEntryBytes measures what caching a token costs in memory
// beside the token's text (which the request brought): "entry" the
// cache's own part (the entry, its slot and its index entry), "verified"
// all of it, the identity included, for tokens carrying what
// bench/manytokens.go's do (sub, jti, iat, exp), verified by the handler.
func BenchmarkCacheEntryBytes(b *testing.B) {
	b.Run("entry", func(b *testing.B) {
		ring, id := &keyRing{}, &identity{}
		tokens := make([]string, cacheShards*cacheShardSize)
		for i := range tokens {
			tokens[i] = "token-" + strconv.Itoa(i)
		}
		for b.Loop() {
			c := newTokenCache()
			b.ReportMetric(heapGrowth(func() {
				for _, tok := range tokens {
					c.put(tok, id, ring, 0)
				}
			})/float64(len(tokens)), "bytes/entry")
			runtime.KeepAlive(c)
		}
	})
	b.Run("verified", func(b *testing.B) {
		h := mustProvision(b, "jwt_auth {\n secret "+testSecret+"\n}")
		tokens := make([]string, 20_000)
		for i := range tokens {
			tokens[i] = mint(b, "HS256", []byte(testSecret), jwt.MapClaims{
				"sub": "user" + strconv.Itoa(i), "jti": "many-" + strconv.Itoa(i),
				"iat": time.Now().Unix(), "exp": time.Now().Add(2 * time.Hour).Unix(),
			}, nil)
		}
		for b.Loop() {
			h.cache = newTokenCache()
			b.ReportMetric(heapGrowth(func() {
				for _, tok := range tokens {
					if _, err := h.verify(tok); err != nil {
						b.Fatal(err)
					}
				}
			})/float64(len(tokens)), "bytes/entry")
		}
		b.ReportMetric(float64(len(tokens[0])), "token-bytes")
	})
}

// heapGrowth is how much the live heap grew over f.
func heapGrowth(f func()) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.GC()
	runtime.ReadMemStats(&after)
	return float64(after.HeapAlloc) - float64(before.HeapAlloc)
}
