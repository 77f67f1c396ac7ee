package caddyjwt

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/pquerna/otp/totp"
)

// totpHandler provisions an issuer whose users file has alice/right with
// the RFC secret and bob/right without one, and a guard on /admin that
// requires amr otp.
func totpHandler(t *testing.T, extra string) *Handler {
	t.Helper()
	hash := bcryptHash(t, "right", 4)
	dir := t.TempDir()
	users := `{"alice": {"password": "` + hash + `", "totp": "` + rfcSecret + `"}, "bob": {"password": "` + hash + `"}}`
	if err := os.WriteFile(filepath.Join(dir, "users.json"), []byte(users), 0o600); err != nil {
		t.Fatal(err)
	}
	return mustProvision(t, "jwt_auth {\n secret "+testSecret+"\n users_file "+filepath.Join(dir, "users.json")+
		"\n login /login\n refresh /refresh\n require amr otp\n"+extra+"}")
}

func code(t *testing.T, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCode(rfcSecret, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// loginJSON posts a JSON login and answers the recorder, its Code set
// to the status of an error the handler returned (429, 503).
func loginJSON(t *testing.T, h *Handler, body map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	data, _ := json.Marshal(body)
	w := httptest.NewRecorder()
	if res := serveWith(t, h, w, post("/login", "application/json", string(data))); res.status != 0 {
		w.Code = res.status
	}
	return w
}

func amrOf(t *testing.T, token string) []any {
	t.Helper()
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(token, claims); err != nil {
		t.Fatal(err)
	}
	amr, _ := claims["amr"].([]any)
	return amr
}

func TestTOTPLoginJSON(t *testing.T) {
	h := totpHandler(t, " login_limit 100 1m\n")
	for _, tc := range []struct {
		name, user, password, otp string
		status                    int
		body                      string
	}{
		{"no code", "alice", "right", "", 401, `{"error":"otp_required"}`},
		{"wrong password, no code", "alice", "wrong", "", 401, `{"error":"invalid_credentials"}`},
		{"wrong password, right code", "alice", "wrong", code(t, time.Now()), 401, `{"error":"invalid_credentials"}`},
		{"wrong code", "alice", "right", "000000x", 401, `{"error":"invalid_credentials"}`},
		{"expired code", "alice", "right", code(t, time.Now().Add(-2*time.Minute)), 401, `{"error":"invalid_credentials"}`},
	} {
		w := loginJSON(t, h, map[string]string{"username": tc.user, "password": tc.password, "otp": tc.otp})
		if w.Code != tc.status || strings.TrimSpace(w.Body.String()) != tc.body || len(w.Result().Cookies()) != 0 {
			t.Errorf("%s: %d %s %v", tc.name, w.Code, w.Body, w.Header()["Set-Cookie"])
		}
	}

	c := code(t, time.Now())
	w := loginJSON(t, h, map[string]string{"username": "alice", "password": "right", "otp": c})
	if w.Code != 200 {
		t.Fatalf("right code: %d %s", w.Code, w.Body)
	}
	var tok issuedToken
	_ = json.Unmarshal(w.Body.Bytes(), &tok)
	if amr := amrOf(t, tok.AccessToken); !slices.Equal(amr, []any{"pwd", "otp"}) {
		t.Errorf("amr %v", amr)
	}
	if res := serve(t, h, bearer(tok.AccessToken)); res.next == nil {
		t.Errorf("require amr otp refused a token with the second factor: %d", res.status)
	}
	if w := loginJSON(t, h, map[string]string{"username": "alice", "password": "right", "otp": c}); w.Code != 401 ||
		!strings.Contains(w.Body.String(), "invalid_credentials") {
		t.Errorf("replayed code: %d %s", w.Code, w.Body)
	}

	// Refresh keeps amr.
	r := post("/refresh", "application/json", `{"refresh_token":"`+tok.RefreshToken+`"}`)
	rw := httptest.NewRecorder()
	serveWith(t, h, rw, r)
	var refreshed issuedToken
	_ = json.Unmarshal(rw.Body.Bytes(), &refreshed)
	if rw.Code != 200 || !slices.Equal(amrOf(t, refreshed.AccessToken), []any{"pwd", "otp"}) {
		t.Errorf("refresh: %d, amr %v", rw.Code, refreshed.AccessToken)
	}

	// A user without a second factor: amr pwd, refused by require amr otp.
	w = loginJSON(t, h, map[string]string{"username": "bob", "password": "right"})
	_ = json.Unmarshal(w.Body.Bytes(), &tok)
	if w.Code != 200 || !slices.Equal(amrOf(t, tok.AccessToken), []any{"pwd"}) {
		t.Fatalf("bob: %d %s", w.Code, w.Body)
	}
	if res := serve(t, h, bearer(tok.AccessToken)); res.status != 403 {
		t.Errorf("require amr otp let a password-only token through: %d", res.status)
	}
}

// TestTOTPLoginLimit: wrong codes are counted by login_limit like wrong
// passwords; a code alone (missing) is not.
func TestTOTPLoginLimit(t *testing.T) {
	h := totpHandler(t, " login_limit 2 1h\n")
	for range 3 {
		if w := loginJSON(t, h, map[string]string{"username": "alice", "password": "right"}); w.Code != 401 {
			t.Fatalf("no code: %d", w.Code)
		}
	}
	for i := range 2 {
		if w := loginJSON(t, h, map[string]string{"username": "alice", "password": "right", "otp": "123456x"}); w.Code != 401 {
			t.Fatalf("wrong code %d: %d", i, w.Code)
		}
	}
	w := loginJSON(t, h, map[string]string{"username": "alice", "password": "right", "otp": code(t, time.Now())})
	if w.Code != 429 || w.Header().Get("Retry-After") == "" {
		t.Errorf("after two wrong codes: %d", w.Code)
	}
}

func formPost(body string, cookies ...*http.Cookie) *http.Request {
	r := post("/login", "application/x-www-form-urlencoded", body)
	for _, c := range cookies {
		r.AddCookie(c)
	}
	return r
}

func TestTOTPLoginForm(t *testing.T) {
	h := totpHandler(t, "")
	w := httptest.NewRecorder()
	serveWith(t, h, w, formPost("username=alice&password=right&return=/admin/x"))
	pending := cookieNamed(w, "access_token_otp")
	if w.Code != 200 || pending == nil || !pending.HttpOnly || !pending.Secure || pending.Path != "/login" ||
		pending.MaxAge <= 0 || pending.MaxAge > 301 || pending.SameSite != http.SameSiteStrictMode {
		t.Fatalf("first step: %d %v", w.Code, w.Header()["Set-Cookie"])
	}
	body := w.Body.String()
	csp := w.Header().Get("Content-Security-Policy")
	if !strings.Contains(body, `name="otp"`) || strings.Contains(body, "right") || strings.Contains(body, pending.Value) ||
		!strings.Contains(csp, "form-action 'self'") || !strings.Contains(csp, "'nonce-") {
		t.Errorf("code page: CSP %q\n%s", csp, body)
	}
	if cookieNamed(w, "access_token") != nil {
		t.Error("the first step set the access cookie")
	}

	// A wrong code: the code page again, with a new pending sign-in.
	w = httptest.NewRecorder()
	serveWith(t, h, w, formPost("otp=000000", pending))
	next := cookieNamed(w, "access_token_otp")
	if w.Code != 401 || next == nil || next.Value == "" || next.Value == pending.Value || !strings.Contains(w.Body.String(), "Wrong code") {
		t.Fatalf("wrong code: %d %v", w.Code, w.Header()["Set-Cookie"])
	}
	// The spent pending sign-in is refused: the login page.
	w = httptest.NewRecorder()
	serveWith(t, h, w, formPost("otp="+code(t, time.Now()), pending))
	if w.Code != 401 || !strings.Contains(w.Body.String(), `name="password"`) {
		t.Errorf("spent pending sign-in: %d", w.Code)
	}
	// The right code: signed in, back to return.
	w = httptest.NewRecorder()
	serveWith(t, h, w, formPost("otp="+code(t, time.Now()), next))
	access := cookieNamed(w, "access_token")
	if w.Code != 303 || w.Header().Get("Location") != "/admin/x" || access == nil {
		t.Fatalf("right code: %d %q %v", w.Code, w.Header().Get("Location"), w.Header()["Set-Cookie"])
	}
	if amr := amrOf(t, access.Value); !slices.Equal(amr, []any{"pwd", "otp"}) {
		t.Errorf("amr %v", amr)
	}
	if c := cookieNamed(w, "access_token_otp"); c == nil || c.MaxAge >= 0 {
		t.Error("the pending cookie was not cleared")
	}
}

// TestTOTPPendingExpires: a pending sign-in ends pendingTTL after the
// password, however many wrong codes renewed it.
func TestTOTPPendingExpires(t *testing.T) {
	h := totpHandler(t, "")
	w := httptest.NewRecorder()
	serveWith(t, h, w, formPost("username=alice&password=right"))
	pending := cookieNamed(w, "access_token_otp")
	saved := now
	t.Cleanup(func() { now = saved })
	now = func() time.Time { return saved().Add(pendingTTL + time.Second) }
	w = httptest.NewRecorder()
	serveWith(t, h, w, formPost("otp="+code(t, now()), pending))
	if w.Code != 401 || !strings.Contains(w.Body.String(), "took too long") || cookieNamed(w, "access_token") != nil {
		t.Errorf("ended pending sign-in: %d", w.Code)
	}
}
