package caddyjwt

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"runtime"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxLimiters bounds the failed-login limiters kept per kind (client IP,
// user name). Past it, idle limiters are dropped; if every one is busy,
// new keys share one overflow limiter, so an attacker spraying addresses
// gains nothing and memory stays bounded.
const maxLimiters = 10000

// failureLimiter allows count failed logins per window for each key, with
// golang.org/x/time/rate token buckets: a failure takes a token, a
// success takes none. An attempt is reserved before its password is
// checked (reserve), so that parallel attempts never check more passwords
// than the key has tokens; the reservation then becomes a failure or is
// given back.
type failureLimiter struct {
	limit    rate.Limit
	burst    int
	mu       sync.Mutex
	buckets  map[string]*bucket
	overflow *bucket
	swept    time.Time // last sweep for idle limiters, at most one a second
	// failures counts, per hashed key, the failures recorded here, for
	// the cluster (failureShare); pruned once older than a window.
	failures map[string]failCount
}

// failCount is a key's failures recorded on this instance and when the
// last one was (Unix seconds).
type failCount struct {
	N  int64 `json:"n"`
	At int64 `json:"at"`
}

// hashKey is how a key is kept: the first 128 bits of its SHA-256, so
// that what the cluster shares names no address or user.
func hashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:16])
}

// bucket is a key's token bucket and its attempts under way, each of
// which may yet take a token. Guarded by the limiter's mu.
type bucket struct {
	lim     *rate.Limiter
	pending int
}

func newFailureLimiter(count int, window time.Duration) *failureLimiter {
	limit := rate.Limit(float64(count) / window.Seconds())
	return &failureLimiter{
		limit:    limit,
		burst:    count,
		buckets:  make(map[string]*bucket),
		overflow: &bucket{lim: rate.NewLimiter(limit, count)},
		failures: make(map[string]failCount),
	}
}

// bucket returns the bucket of key, creating it when there is room.
// Callers hold mu.
func (fl *failureLimiter) bucket(key string) *bucket {
	if b, ok := fl.buckets[key]; ok {
		return b
	}
	if len(fl.buckets) >= maxLimiters && time.Since(fl.swept) > time.Second {
		t := time.Now()
		fl.swept = t
		for k, b := range fl.buckets {
			if b.pending == 0 && b.lim.TokensAt(t) >= float64(fl.burst) {
				delete(fl.buckets, k) // idle: the same as a new one
			}
		}
	}
	if len(fl.buckets) >= maxLimiters {
		return fl.overflow
	}
	b := &bucket{lim: rate.NewLimiter(fl.limit, fl.burst)}
	fl.buckets[key] = b
	return b
}

// available is how many attempts b may start now: its tokens less the
// attempts under way. Callers hold mu.
func (b *bucket) available(t time.Time) float64 {
	return b.lim.TokensAt(t) - float64(b.pending)
}

// wait is how long key must wait before its next attempt; zero when it
// may try now. Attempts under way count as failures until they end.
func (fl *failureLimiter) wait(key string) time.Duration {
	key = hashKey(key)
	fl.mu.Lock()
	defer fl.mu.Unlock()
	b, ok := fl.buckets[key]
	switch {
	case ok:
	case len(fl.buckets) >= maxLimiters:
		b = fl.overflow
	default:
		return 0 // no failure on record
	}
	return fl.waitFor(b, time.Now())
}

// waitFor is b's wait at t. Callers hold mu.
func (fl *failureLimiter) waitFor(b *bucket, t time.Time) time.Duration {
	avail := b.available(t)
	if avail >= 1 {
		return 0
	}
	return time.Duration((1 - avail) / float64(fl.limit) * float64(time.Second))
}

// reserve starts an attempt of key: when key has a token not already
// promised to an attempt under way, it returns the attempt, which must
// end with fail or release; otherwise nil and how long to wait.
func (fl *failureLimiter) reserve(key string) (*attempt, time.Duration) {
	key = hashKey(key)
	fl.mu.Lock()
	defer fl.mu.Unlock()
	b := fl.bucket(key)
	if wait := fl.waitFor(b, time.Now()); wait > 0 {
		return nil, wait
	}
	b.pending++
	return &attempt{fl: fl, b: b, key: key}, 0
}

// attempt is a reserved attempt under way.
type attempt struct {
	fl   *failureLimiter
	b    *bucket
	key  string // hashed
	done bool
}

// fail ends the attempt as a failure: it takes its token.
func (a *attempt) fail() {
	a.end(true)
}

// release ends the attempt without a failure (a success, or a password
// that was never checked): its token stays.
func (a *attempt) release() {
	a.end(false)
}

func (a *attempt) end(failed bool) {
	if a == nil {
		return
	}
	a.fl.mu.Lock()
	defer a.fl.mu.Unlock()
	if a.done {
		return
	}
	a.done = true
	a.b.pending--
	if failed {
		a.b.lim.Allow()
		a.fl.countFailure(a.key)
	}
}

// fail records a failed attempt of key that was not reserved.
func (fl *failureLimiter) fail(key string) {
	key = hashKey(key)
	fl.mu.Lock()
	defer fl.mu.Unlock()
	fl.bucket(key).lim.Allow()
	fl.countFailure(key)
}

// countFailure notes a failure of a hashed key for the cluster. Callers
// hold mu.
func (fl *failureLimiter) countFailure(key string) {
	c := fl.failures[key]
	c.N++
	c.At = now().Unix()
	fl.failures[key] = c
}

// recentFailures are the failures counted here whose last one is after
// since; older ones are forgotten.
func (fl *failureLimiter) recentFailures(since time.Time) map[string]failCount {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	out := make(map[string]failCount, len(fl.failures))
	for key, c := range fl.failures {
		if c.At <= since.Unix() {
			delete(fl.failures, key)
			continue
		}
		out[key] = c
	}
	return out
}

// takeRemote takes n failures another instance counted for a hashed key
// out of this instance's bucket, leaving it in debt if need be (at most a
// burst's worth).
func (fl *failureLimiter) takeRemote(key string, n int) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	fl.bucket(key).lim.ReserveN(time.Now(), min(n, fl.burst))
}

// retryAfter is the Retry-After value for a wait: whole seconds, at least 1.
func retryAfter(wait time.Duration) int {
	return int(math.Max(1, math.Ceil(wait.Seconds())))
}

// passwordChecks bounds the password checks (bcrypt, argon2id) running at
// once in the process, whichever handler asks: one less than the threads
// Go may run at once (GOMAXPROCS, the cores Caddy may use), and at least
// one. A flood of logins so never takes more CPU than that, and one core
// stays free for guarded requests: on 2 cores, with every core hashing,
// a guarded GET's p99 during a flood was 10 times what it is with one
// left free (BenchmarkGuardDuringLoginFlood). On a single core, checks
// and guarded requests share it.
var passwordChecks = newCheckPool(runtime.GOMAXPROCS(0) - 1)

// checkPool is a semaphore with a bounded queue: size checks run, at most
// size more wait for one of them to end (about one check's time, as size
// checks end in about that time), and any beyond are refused at once.
type checkPool struct {
	running chan struct{} // a slot for each running check
	admit   chan struct{} // a slot for each running or waiting check
}

func newCheckPool(size int) *checkPool {
	size = max(1, size)
	return &checkPool{running: make(chan struct{}, size), admit: make(chan struct{}, 2*size)}
}

// acquire takes a slot for a check: false, without waiting, when the pool
// and its queue are full, or when ctx ends while it waits. A true acquire
// is followed by release.
func (p *checkPool) acquire(ctx context.Context) bool {
	select {
	case p.admit <- struct{}{}:
	default:
		return false
	}
	select {
	case p.running <- struct{}{}:
		return true
	case <-ctx.Done():
		<-p.admit
		return false
	}
}

func (p *checkPool) release() {
	<-p.running
	<-p.admit
}
