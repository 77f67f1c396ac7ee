package caddyjwt

// A guarded request's latency while the login endpoint is flooded with
// wrong passwords (issue 19, item 2). Measured, not asserted:
//
//	go test -run '^$' -bench BenchmarkGuardDuringLoginFlood -benchtime 1x .
//
// p99-ms is the 99th percentile of the guarded requests' latency.

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"golang.org/x/crypto/bcrypt"
)

// floodWorkers each send floodRate wrong logins a second, from addresses
// of their own, for user names of their own: far more than the cores can
// hash at cost 10, and with a login_limit that never stops them, so that
// only the bound on the hashing itself protects the guarded requests.
const (
	floodWorkers = 8
	floodRate    = 10
)

func BenchmarkGuardDuringLoginFlood(b *testing.B) {
	hash, err := bcrypt.GenerateFromPassword([]byte("right"), bcrypt.DefaultCost)
	if err != nil {
		b.Fatal(err)
	}
	h := mustProvision(b, "jwt_auth {\n secret "+testSecret+"\n user alice "+string(hash)+"\n login /login\n login_limit 1000000 1s\n}")
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	withRepl := func(r *http.Request) *http.Request {
		return r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
	}

	login := httptest.NewRecorder()
	if err := h.ServeHTTP(login, withRepl(post("/login", "application/json", `{"username":"alice","password":"right"}`)), next); err != nil || login.Code != 200 {
		b.Fatalf("login: %v %d", err, login.Code)
	}
	token := login.Result().Cookies()[0].Value

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var flooded, busy atomic.Int64
	for w := range floodWorkers {
		wg.Go(func() {
			tick := time.NewTicker(time.Second / floodRate)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				wg.Go(func() { // paced: a slow answer does not slow the flood
					body := fmt.Sprintf(`{"username":"user%d-%d","password":"wrong"}`, w, i)
					r := post("/login", "application/json", body)
					r.RemoteAddr = fmt.Sprintf("10.1.%d.%d:4000", w, i%250)
					err := h.ServeHTTP(httptest.NewRecorder(), withRepl(r), next)
					flooded.Add(1)
					if statusOf(err) == http.StatusServiceUnavailable {
						busy.Add(1)
					}
				})
			}
		})
	}
	time.Sleep(500 * time.Millisecond) // let the flood build up

	// Guarded requests are due every 2 ms for 3 s, and each one's latency
	// is counted from when it was due, not from when it could start: a
	// request that waited for a CPU held by the hashing (as one arriving
	// on a connection would) is counted as waiting.
	const every, measure = 2 * time.Millisecond, 3 * time.Second
	var took []time.Duration
	for b.Loop() {
		took = took[:0]
		begin := time.Now()
		for due := begin; due.Sub(begin) < measure; due = due.Add(every) {
			time.Sleep(time.Until(due))
			if err := h.ServeHTTP(httptest.NewRecorder(), withRepl(bearer(token)), next); err != nil {
				b.Fatalf("guarded request: %v", err)
			}
			took = append(took, time.Since(due))
		}
	}
	stop()
	wg.Wait()
	slices.Sort(took)
	p := func(q float64) float64 {
		return float64(took[int(q*float64(len(took)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(p(0.50), "p50-ms")
	b.ReportMetric(p(0.99), "p99-ms")
	b.ReportMetric(float64(flooded.Load()), "logins")
	b.ReportMetric(float64(busy.Load()), "busy")
}
