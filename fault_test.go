package caddyjwt

// The fault tests that need the package's insides: a storage that refuses
// writes under key auto, and clocks that disagree (the package clock
// `now` is swapped). The fault tests that run the built binary are in
// integration/fault_*_test.go.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"golang.org/x/crypto/bcrypt"
)

// faultReadOnlyStorage is a storage that refuses every write, as a
// read-only mount does; reads go to the folder beneath.
type faultReadOnlyStorage struct{ *certmagic.FileStorage }

var errFaultReadOnly = errors.New("read-only file system")

func (faultReadOnlyStorage) Store(context.Context, string, []byte) error { return errFaultReadOnly }
func (faultReadOnlyStorage) Delete(context.Context, string) error        { return errFaultReadOnly }
func (faultReadOnlyStorage) Lock(context.Context, string) error          { return errFaultReadOnly }
func (faultReadOnlyStorage) Unlock(context.Context, string) error        { return errFaultReadOnly }

// TestFaultAutoKeyReadOnlyStorage: key auto on a storage that refuses
// writes loads the stored key (no lock is needed to read it); a rotation
// that falls due fails and keeps the keys in use; with no key stored, the
// error says that one could not be made.
func TestFaultAutoKeyReadOnlyStorage(t *testing.T) {
	ctx := context.Background()
	clock := faultFreezeClock(t)
	files := &certmagic.FileStorage{Path: t.TempDir()}
	writer := &autoKeys{alg: "ES256", rotate: time.Hour, keep: time.Hour, storage: files}
	if err := writer.load(ctx); err != nil {
		t.Fatal(err)
	}
	kid := writer.keys()[0].kid

	ro := &autoKeys{alg: "ES256", rotate: time.Hour, keep: time.Hour, storage: faultReadOnlyStorage{files}}
	if err := ro.load(ctx); err != nil {
		t.Fatalf("loading the stored key from a read-only storage: %v", err)
	}
	if k := ro.keys(); len(k) != 1 || k[0].kid != kid || k[0].signer == nil {
		t.Fatalf("read-only load got %v, want the stored signing key %s", kidsOf(k), kid)
	}
	clock.at(time.Hour, func() {
		err := ro.load(ctx)
		if err == nil || !strings.Contains(err.Error(), "locking storage") {
			t.Errorf("a rotation due on a read-only storage: %v, want a locking error", err)
		}
	})
	if k := ro.keys(); len(k) != 1 || k[0].kid != kid {
		t.Errorf("after the failed rotation the keys are %v, want %s kept", kidsOf(k), kid)
	}

	empty := &autoKeys{alg: "ES256", storage: faultReadOnlyStorage{&certmagic.FileStorage{Path: t.TempDir()}}}
	if err := empty.load(ctx); err == nil || !strings.Contains(err.Error(), "no key in storage yet, making one: locking storage: read-only file system") {
		t.Errorf("no key on a read-only storage: %v", err)
	}
}

// ---------------------------------------------------------------------------
// Clock skew

// faultClock freezes the package clock at a whole second, moved by an
// offset: one instance's clock is set apart by changing the offset while
// it mints, and back before the other validates. Nothing sleeps across a
// boundary, so boundaries are tested to the second.
type faultClock struct {
	base   time.Time
	offset atomic.Int64
}

// faultFreezeClock replaces the clock for the test. Call it before
// provisioning, so that the handlers' background work is stopped before
// the clock is put back.
func faultFreezeClock(t *testing.T) *faultClock {
	c := &faultClock{base: time.Unix(time.Now().Unix(), 0)}
	orig := now
	now = func() time.Time { return c.base.Add(time.Duration(c.offset.Load())) }
	t.Cleanup(func() { now = orig })
	return c
}

// at runs fn with the clock skew apart from true time.
func (c *faultClock) at(skew time.Duration, fn func()) {
	c.offset.Store(int64(skew))
	defer c.offset.Store(0)
	fn()
}

// faultPassword is alice's password on the handlers of the clock tests.
const faultPassword = "fault-test-password"

// faultTokens is a login or refresh answer.
type faultTokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// faultLogin logs in on h, JSON, and returns the tokens.
func faultLogin(t *testing.T, h *Handler) faultTokens {
	t.Helper()
	tok, status := faultTryTokens(t, h, "/login", `{"username":"alice","password":"`+faultPassword+`"}`)
	if status != 200 {
		t.Fatalf("POST /login: %d", status)
	}
	return tok
}

// faultTryTokens posts JSON to one of h's endpoints (with login_test.go's
// post) and reads the tokens when the answer is 200.
func faultTryTokens(t *testing.T, h *Handler, path, body string) (faultTokens, int) {
	t.Helper()
	w := httptest.NewRecorder()
	res := serveWith(t, h, w, post(path, "application/json", body))
	var tok faultTokens
	if res.status == 200 {
		if err := json.Unmarshal(w.Body.Bytes(), &tok); err != nil || tok.AccessToken == "" {
			t.Fatalf("POST %s answered %q: %v", path, w.Body.String(), err)
		}
	}
	return tok, res.status
}

// faultVerdict is what h answers to a bearer token now: "ok", or the
// refusal's reason (expired, not_yet_valid...).
func faultVerdict(t *testing.T, h *Handler, tok string) string {
	t.Helper()
	res := serve(t, h, bearer(tok))
	if res.status == 0 {
		return "ok"
	}
	if res.status != http.StatusUnauthorized {
		return fmt.Sprintf("status %d", res.status)
	}
	return res.repl.ReplaceAll("{http.auth.jwt_auth.error}", "")
}

// TestFaultClockSkew holds the leeway to the second between instances
// whose clocks disagree: two handlers on one storage (one cluster, one
// key auto key), one minting while its clock is ahead or behind, the
// other validating; tokens made by `caddy jwt sign` on a machine whose
// clock is off, with exp, nbf and iat each the only claim out of line;
// and a validator whose own clock steps back or forward after it has
// cached a token. With the default leeway (30s) and `leeway 2m`.
func TestFaultClockSkew(t *testing.T) {
	clock := faultFreezeClock(t)
	hash := bcryptHash(t, faultPassword, bcrypt.MinCost)
	for _, tc := range []struct {
		name   string
		leeway time.Duration
		line   string
	}{
		{"DefaultLeeway", 30 * time.Second, ""},
		{"Leeway2m", 2 * time.Minute, "leeway 2m"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const ttl = time.Minute
			storage := t.TempDir()
			block := fmt.Sprintf("jwt_auth {\n key auto\n login /login\n refresh /refresh\n access_ttl 1m\n user alice %s\n %s\n}", hash, tc.line)
			a := mustProvisionOn(t, storage, block) // mints, its clock off
			b := mustProvisionOn(t, storage, block) // validates, on time
			lw := tc.leeway
			expect := func(what, tok, want string) {
				t.Helper()
				if got := faultVerdict(t, b, tok); got != want {
					t.Errorf("%s: %s, want %s", what, got, want)
				}
			}

			// Logins on A, A's clock off; the tokens used on B.
			for _, c := range []struct {
				skew time.Duration
				want string
			}{
				{lw, "ok"},                          // iat = nbf = leeway ahead: just within
				{lw + time.Second, "not_yet_valid"}, // a second beyond
				{-(ttl + lw) + time.Second, "ok"},   // exp = leeway - 1 s ago
				{-(ttl + lw), "expired"},            // exp = leeway ago: the first second refused
			} {
				var tok faultTokens
				clock.at(c.skew, func() { tok = faultLogin(t, a) })
				expect(fmt.Sprintf("access token from an instance %v off", c.skew), tok.AccessToken, c.want)
				// Its refresh token (TTL 168h) on B: only a clock
				// ahead can spoil it.
				_, status := faultTryTokens(t, b, "/refresh", `{"refresh_token":"`+tok.RefreshToken+`"}`)
				wantStatus := 200
				if c.skew > lw {
					wantStatus = 401
				}
				if status != wantStatus {
					t.Errorf("refresh token from an instance %v off, spent on B: %d, want %d", c.skew, status, wantStatus)
				}
			}

			// caddy jwt sign, with the cluster's key, on a machine whose
			// clock is off; each time claim alone out of line.
			keyFile := filepath.Join(storage, "caddyjwt", "keys", "auto-es256.pem")
			base := clock.base.Unix()
			sign := func(skew time.Duration, claims string) string {
				var tok string
				clock.at(skew, func() {
					tok = cmdSignToken(t, "--key", keyFile, "--sub", "alice", "--ttl", "1m", "--claims", claims)
				})
				return tok
			}
			longAgo, later := base-3600, base+3600
			for _, c := range []struct {
				claim  string
				skew   time.Duration
				claims string
			}{
				{"iat", lw, fmt.Sprintf(`{"iss":"http://example.com","nbf":%d,"exp":%d}`, longAgo, later)},
				{"nbf", lw, fmt.Sprintf(`{"iss":"http://example.com","iat":%d,"exp":%d}`, longAgo, later)},
				{"exp", -(ttl + lw), fmt.Sprintf(`{"iss":"http://example.com","iat":%d,"nbf":%d}`, longAgo, longAgo)},
			} {
				within, beyond := c.skew+time.Second, c.skew
				want := "expired"
				if c.skew > 0 {
					within, beyond, want = c.skew, c.skew+time.Second, "not_yet_valid"
				}
				expect(fmt.Sprintf("caddy jwt sign, clock %v off, only %s out of line", within, c.claim), sign(within, c.claims), "ok")
				expect(fmt.Sprintf("caddy jwt sign, clock %v off, only %s out of line", beyond, c.claim), sign(beyond, c.claims), want)
			}

			// B's own clock steps after B cached a token: the cache keeps
			// to the token's window with the leeway, as a full check does.
			tok := faultLogin(t, a).AccessToken // iat = nbf = base, exp = base + 1m
			expect("fresh token", tok, "ok")
			for _, c := range []struct {
				step time.Duration
				want string
			}{
				{-lw, "ok"},
				{-lw - time.Second, "not_yet_valid"},
				{ttl + lw - time.Second, "ok"},
				{ttl + lw, "expired"},
				{0, "ok"},
			} {
				clock.at(c.step, func() { expect(fmt.Sprintf("cached token, B's clock stepped %v", c.step), tok, c.want) })
			}
		})
	}
}
