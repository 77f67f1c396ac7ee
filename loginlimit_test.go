package caddyjwt

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	dto "github.com/prometheus/client_model/go"
)

// countingComparer counts the password checks and makes each last at
// least delay, so that attempts sent at once overlap.
type countingComparer struct {
	caddyauth.Comparer
	n     *atomic.Int64
	delay time.Duration
}

func (c countingComparer) Compare(hashed, plaintext []byte) (bool, error) {
	c.n.Add(1)
	time.Sleep(c.delay)
	return c.Comparer.Compare(hashed, plaintext)
}

// countChecks makes every password check of h's current users, the decoy
// included, counted and at least delay long.
func countChecks(h *Handler, delay time.Duration) *atomic.Int64 {
	n := new(atomic.Int64)
	set := h.issuer.users.current.Load()
	for _, a := range append([]*account{set.decoy}, mapValues(set.accounts)...) {
		a.comparer = countingComparer{a.comparer, n, delay}
	}
	return n
}

func mapValues(m map[string]*account) []*account {
	var out []*account
	for _, a := range m {
		out = append(out, a)
	}
	return out
}

// withCheckPool runs the test with a pool of password checks of size.
func withCheckPool(t *testing.T, size int) {
	saved := passwordChecks
	passwordChecks = newCheckPool(size)
	t.Cleanup(func() { passwordChecks = saved })
}

// loginFrom posts a JSON login from addr and returns the status (200,
// 401, or a handler error's) and the response headers.
func loginFrom(h *Handler, addr, body string) (int, http.Header) {
	r := post("/login", "application/json", body)
	r.RemoteAddr = addr
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
	w := httptest.NewRecorder()
	err := h.ServeHTTP(w, r, caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil }))
	if status := statusOf(err); status != 0 {
		return status, w.Header()
	}
	return w.Code, w.Header()
}

// sendAtOnce sends n logins at once and counts their statuses.
func sendAtOnce(t *testing.T, n int, send func(i int) (int, http.Header)) map[int]int {
	t.Helper()
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			status, header := send(i)
			if (status == 429 || status == 503) && header.Get("Retry-After") == "" {
				t.Errorf("%d without Retry-After", status)
			}
			if status == 503 && header.Get("Retry-After") != "1" {
				t.Errorf("503 with Retry-After %q, want 1", header.Get("Retry-After"))
			}
			mu.Lock()
			statuses[status]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	return statuses
}

// TestLoginLimitParallelGuesses: 40 wrong passwords for one user from one
// address, sent at once under login_limit 5 1m, check at most 5 passwords;
// the others are refused (429) before any hashing. Issue 19, item 2.
func TestLoginLimitParallelGuesses(t *testing.T) {
	withCheckPool(t, 64) // the limit alone is under test here
	h := loginHandler(t, " login_limit 5 1m\n")
	checks := countChecks(h, 20*time.Millisecond)
	statuses := sendAtOnce(t, 40, func(int) (int, http.Header) {
		return loginFrom(h, "192.0.2.1:4000", `{"username":"alice","password":"wrong"}`)
	})
	if n := checks.Load(); n > 5 || statuses[401] != int(n) || statuses[401]+statuses[429] != 40 {
		t.Errorf("%d passwords checked, statuses %v; want at most 5 checked, each a 401, the rest 429", n, statuses)
	}
	// The budget is spent: the right password waits too.
	if status, _ := loginFrom(h, "192.0.2.1:4000", `{"username":"alice","password":"right"}`); status != 429 {
		t.Errorf("right password after the burst: %d, want 429", status)
	}

	// Per user: the same burst, each guess from an address of its own.
	h = loginHandler(t, " login_limit 5 1m\n")
	checks = countChecks(h, 20*time.Millisecond)
	statuses = sendAtOnce(t, 40, func(i int) (int, http.Header) {
		return loginFrom(h, fmt.Sprintf("192.0.2.%d:4000", i+1), `{"username":"alice","password":"wrong"}`)
	})
	if n := checks.Load(); n > 5 || statuses[401] != int(n) || statuses[401]+statuses[429] != 40 {
		t.Errorf("from 40 addresses: %d passwords checked, statuses %v; want at most 5 checked, the rest 429", n, statuses)
	}
}

// TestLoginLimitParallelWithPool: the same burst with the real pool: at
// most 5 checks, and every other guess 429 or 503.
func TestLoginLimitParallelWithPool(t *testing.T) {
	withCheckPool(t, 2)
	h := loginHandler(t, " login_limit 5 1m\n")
	checks := countChecks(h, 20*time.Millisecond)
	statuses := sendAtOnce(t, 40, func(int) (int, http.Header) {
		return loginFrom(h, "192.0.2.1:4000", `{"username":"alice","password":"wrong"}`)
	})
	if n := checks.Load(); n > 5 || statuses[401] != int(n) || statuses[401]+statuses[429]+statuses[503] != 40 {
		t.Errorf("%d passwords checked, statuses %v; want at most 5 checked, the rest 429 or 503", n, statuses)
	}
}

// TestLoginSuccessGivesBack: right passwords do not use the budget, even
// many in a row; failures do.
func TestLoginSuccessGivesBack(t *testing.T) {
	h := loginHandler(t, " login_limit 2 1m\n")
	for i := range 6 {
		if status, _ := loginFrom(h, "192.0.2.7:4000", `{"username":"alice","password":"right"}`); status != 200 {
			t.Fatalf("success %d: %d, want 200", i+1, status)
		}
	}
	for i := range 2 {
		if status, _ := loginFrom(h, "192.0.2.7:4000", `{"username":"alice","password":"wrong"}`); status != 401 {
			t.Fatalf("failure %d: %d, want 401", i+1, status)
		}
	}
	status, header := loginFrom(h, "192.0.2.7:4000", `{"username":"alice","password":"right"}`)
	if status != 429 || header.Get("Retry-After") == "" {
		t.Errorf("after 2 failures: %d Retry-After %q, want 429 with Retry-After", status, header.Get("Retry-After"))
	}
}

// TestLoginPoolBusy: with every check slot and the queue taken, a login
// is refused at once with 503 and Retry-After: 1, counted as busy, and
// spends nothing of the limit.
func TestLoginPoolBusy(t *testing.T) {
	withCheckPool(t, 1)
	h := loginHandler(t, " login_limit 1000 1m\n")
	checks := countChecks(h, 200*time.Millisecond)
	statuses := sendAtOnce(t, 8, func(i int) (int, http.Header) {
		return loginFrom(h, fmt.Sprintf("192.0.2.%d:4000", i+1), `{"username":"alice","password":"wrong"}`)
	})
	// One runs, one waits for it; the other six are refused at once.
	if statuses[503] != 6 || statuses[401] != 2 || checks.Load() != 2 {
		t.Errorf("statuses %v, %d checks; want 2 checked (401) and 6 busy (503)", statuses, checks.Load())
	}
	var m dto.Metric
	if err := h.issuer.metrics.logins.WithLabelValues("busy").Write(&m); err != nil || m.GetCounter().GetValue() != 6 {
		n := m.GetCounter().GetValue()
		t.Errorf("logins_total{result=busy} = %v, want 6", n)
	}
	// An attempt the pool refused spends nothing: under login_limit 1,
	// after a burst of right passwords, one more still gets in.
	h = loginHandler(t, " login_limit 1 1m\n")
	countChecks(h, 200*time.Millisecond)
	statuses = sendAtOnce(t, 3, func(int) (int, http.Header) {
		return loginFrom(h, "192.0.2.50:4000", `{"username":"alice","password":"right"}`)
	})
	if statuses[200] != 1 {
		t.Fatalf("statuses %v, want one 200", statuses)
	}
	if status, _ := loginFrom(h, "192.0.2.50:4000", `{"username":"alice","password":"right"}`); status != 200 {
		t.Errorf("after refused attempts, the right password: %d, want 200", status)
	}
}

// TestLoginBadUserNames: a requested name that no user may have gets 401
// invalid_credentials after one (decoy) check, as any unknown name, and
// is never read as alice. Issue 16.
func TestLoginBadUserNames(t *testing.T) {
	h := loginHandler(t, " login_limit 1000 1m\n")
	checks := countChecks(h, 0)
	for label, name := range map[string]string{
		"NUL":            `alice\u0000`,
		"newline":        `alice\n`,
		"DEL":            "alice\x7f",
		"C1 (NEL)":       `alice\u0085`,
		"lone surrogate": `al\ud800ice`,
		"bad UTF-8":      "al\xffice",
		"over 256 bytes": "alice" + strings.Repeat("e", 300),
	} {
		before := checks.Load()
		status, _ := loginFrom(h, "192.0.2.9:4000", `{"username":"`+name+`","password":"right"}`)
		if status != 401 || checks.Load() != before+1 {
			t.Errorf("%s: %d after %d checks, want 401 after one", label, status, checks.Load()-before)
		}
	}
	if _, ok := h.issuer.byUser.buckets["alice"]; ok {
		t.Error("a bad name was limited as alice")
	}
	if status, _ := loginFrom(h, "192.0.2.9:4000", `{"username":"alice","password":"right"}`); status != 200 {
		t.Errorf("alice herself: %d, want 200", status)
	}
}
