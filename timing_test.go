package caddyjwt

// Login timing: a failed login must cost the same whether the user exists
// or not, so that an attacker cannot list the users by timing the login
// endpoint. It is measured, not asserted in the default suite:
//
//	go test -run '^$' -bench BenchmarkLoginTiming .           # ns/op per kind
//	CADDYJWT_TIMING=1 go test -run TestLoginTiming -v .       # the statistical check, about 30 s

import (
	"cmp"
	"context"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"golang.org/x/crypto/bcrypt"
)

// timingCost is bcrypt's default cost, the one `caddy hash-password` uses:
// at the minimum cost a comparison is too short to stand out of the noise.
const timingCost = bcrypt.DefaultCost

// timingKinds are the failed logins compared. The first is the reference:
// a known user with a wrong password.
var timingKinds = []struct{ name, body string }{
	{"known user, wrong password", `{"username":"alice","password":"wrong"}`},
	{"unknown user", `{"username":"mallory","password":"wrong"}`},
	{"disabled user", `{"username":"dora","password":"dora-pass"}`},
	{"password over 72 bytes", `{"username":"alice","password":"right` + strings.Repeat("x", 80) + `"}`},
}

// timingHandler is an issuer with alice and a disabled dora, hashed at
// timingCost, and no effective login limit.
func timingHandler(t testing.TB) *Handler {
	t.Helper()
	dir := t.TempDir()
	alice, _ := bcrypt.GenerateFromPassword([]byte("right"), timingCost)
	dora, _ := bcrypt.GenerateFromPassword([]byte("dora-pass"), timingCost)
	users := `{"alice":{"password":"` + string(alice) + `"},"dora":{"password":"` + string(dora) + `","disabled":true}}`
	if err := os.WriteFile(dir+"/users.json", []byte(users), 0o600); err != nil {
		t.Fatal(err)
	}
	return mustProvision(t, "jwt_auth {\n secret "+testSecret+"\n users_file "+dir+"/users.json\n login /login\n login_limit 1000000 1s\n}")
}

// timeLogin posts one failed JSON login and returns how long it took.
func timeLogin(t testing.TB, h *Handler, body string) time.Duration {
	r := httptest.NewRequest(http.MethodPost, "http://example.com/login", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
	w := httptest.NewRecorder()
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	start := time.Now()
	err := h.ServeHTTP(w, r, next)
	d := time.Since(start)
	if err != nil || w.Code != http.StatusUnauthorized {
		t.Fatalf("login %s: %v %d, want 401", body, err, w.Code)
	}
	return d
}

func BenchmarkLoginTiming(b *testing.B) {
	h := timingHandler(b)
	for _, k := range timingKinds {
		b.Run(k.name, func(b *testing.B) {
			for b.Loop() {
				timeLogin(b, h, k.body)
			}
		})
	}
}

// TestLoginTiming times failed logins of every kind, interleaved in random
// order so that drift in the machine's speed falls on all kinds alike, and
// compares each kind with the reference by a Mann–Whitney U test. A kind
// that skipped the hash comparison (a missing decoy) would be about a
// thousand times faster and give |z| = 10.9, the most 80 rounds can give;
// runs on a busy 2-core machine gave |z| < 1.
func TestLoginTiming(t *testing.T) {
	if os.Getenv("CADDYJWT_TIMING") == "" {
		t.Skip("on demand: CADDYJWT_TIMING=1 go test -run TestLoginTiming -v .")
	}
	const rounds = 80
	h := timingHandler(t)
	for _, k := range timingKinds { // warm up
		timeLogin(t, h, k.body)
	}
	samples := make([][]float64, len(timingKinds))
	for range rounds {
		for _, i := range rand.Perm(len(timingKinds)) {
			samples[i] = append(samples[i], float64(timeLogin(t, h, timingKinds[i].body)))
		}
	}
	ref := samples[0]
	t.Logf("%-28s median %v", timingKinds[0].name, time.Duration(median(ref)))
	for i, k := range timingKinds[1:] {
		s := samples[i+1]
		z := mannWhitneyZ(ref, s)
		t.Logf("%-28s median %v, z = %+.2f", k.name, time.Duration(median(s)), z)
		if math.Abs(z) > 4 {
			t.Errorf("%s: login time differs from a known user's (z = %.1f, medians %v and %v)",
				k.name, z, time.Duration(median(ref)), time.Duration(median(s)))
		}
	}
}

func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	return s[len(s)/2]
}

// mannWhitneyZ is the normal approximation of the Mann–Whitney U statistic
// of two samples (ties are negligible for durations in nanoseconds).
func mannWhitneyZ(a, b []float64) float64 {
	type obs struct {
		v     float64
		fromA bool
	}
	all := make([]obs, 0, len(a)+len(b))
	for _, v := range a {
		all = append(all, obs{v, true})
	}
	for _, v := range b {
		all = append(all, obs{v, false})
	}
	slices.SortFunc(all, func(x, y obs) int { return cmp.Compare(x.v, y.v) })
	var rankA float64
	for i, o := range all {
		if o.fromA {
			rankA += float64(i + 1)
		}
	}
	na, nb := float64(len(a)), float64(len(b))
	u := rankA - na*(na+1)/2
	mean := na * nb / 2
	sd := math.Sqrt(na * nb * (na + nb + 1) / 12)
	return (u - mean) / sd
}
