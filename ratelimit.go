package caddyjwt

import (
	"math"
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
// success takes none.
type failureLimiter struct {
	limit    rate.Limit
	burst    int
	mu       sync.Mutex
	buckets  map[string]*rate.Limiter
	overflow *rate.Limiter
	swept    time.Time // last sweep for idle limiters, at most one a second
}

func newFailureLimiter(count int, window time.Duration) *failureLimiter {
	limit := rate.Limit(float64(count) / window.Seconds())
	return &failureLimiter{
		limit:    limit,
		burst:    count,
		buckets:  make(map[string]*rate.Limiter),
		overflow: rate.NewLimiter(limit, count),
	}
}

// bucket returns the limiter of key, creating it when there is room.
// Callers hold mu.
func (fl *failureLimiter) bucket(key string) *rate.Limiter {
	if b, ok := fl.buckets[key]; ok {
		return b
	}
	if len(fl.buckets) >= maxLimiters && time.Since(fl.swept) > time.Second {
		t := time.Now()
		fl.swept = t
		for k, b := range fl.buckets {
			if b.TokensAt(t) >= float64(fl.burst) {
				delete(fl.buckets, k) // idle: the same as a new one
			}
		}
	}
	if len(fl.buckets) >= maxLimiters {
		return fl.overflow
	}
	b := rate.NewLimiter(fl.limit, fl.burst)
	fl.buckets[key] = b
	return b
}

// wait is how long key must wait before its next attempt; zero when it
// may try now.
func (fl *failureLimiter) wait(key string) time.Duration {
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
	tokens := b.TokensAt(time.Now())
	if tokens >= 1 {
		return 0
	}
	return time.Duration((1 - tokens) / float64(fl.limit) * float64(time.Second))
}

// fail records a failed attempt of key.
func (fl *failureLimiter) fail(key string) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	fl.bucket(key).Allow()
}

// retryAfter is the Retry-After value for a wait: whole seconds, at least 1.
func retryAfter(wait time.Duration) int {
	return int(math.Max(1, math.Ceil(wait.Seconds())))
}
