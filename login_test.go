package caddyjwt

import (
	"crypto/ed25519"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"
)

func TestSafeReturn(t *testing.T) {
	for in, want := range map[string]string{
		"/docs?page=2#top":       "/docs?page=2#top",
		"/":                      "/",
		"":                       "/",
		"docs":                   "/",
		"//evil.example":         "/",
		"///evil.example":        "/",
		"/\\evil.example":        "/",
		"/x\\y":                  "/",
		"https://evil.example/":  "/",
		"javascript:alert(1)":    "/",
		"/%2F%2Fevil.example":    "/",
		"/%2f/evil.example":      "/",
		"/%5Cevil.example":       "/",
		"/\t/evil.example":       "/",
		"/\r\nSet-Cookie: x=y":   "/",
		"/%0d%0aSet-Cookie:%20x": "/",
		"/ok/%2e%2e/fine":        "/",
		"/.//evil.example":       "/",
		"/a//b?c=//d":            "/",
		"/a/b/?c=//d":            "/a/b/?c=//d",
	} {
		if got := safeReturn(in); got != want {
			t.Errorf("safeReturn(%q) = %q, want %q", in, got, want)
		}
	}
}

// loginHandler provisions an issuer with one user, alice/right.
func loginHandler(t testing.TB, extra string) *Handler {
	t.Helper()
	hash := bcryptHash(t, "right", bcrypt.MinCost)
	return mustProvision(t, "jwt_auth {\n secret "+testSecret+"\n user alice "+hash+"\n login /login\n refresh /refresh\n logout /logout\n"+extra+"}")
}

func post(path, contentType, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "http://example.com"+path, strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return r
}

func TestLoginStatuses(t *testing.T) {
	h := loginHandler(t, "")
	for _, tc := range []struct {
		name   string
		r      *http.Request
		status int
	}{
		{"JSON", post("/login", "application/json", `{"username":"alice","password":"right"}`), 200},
		{"JSON with charset", post("/login", "application/json; charset=utf-8", `{"username":"alice","password":"right"}`), 200},
		{"form", post("/login", "application/x-www-form-urlencoded", "username=alice&password=right&return=/x"), 303},
		{"wrong password", post("/login", "application/json", `{"username":"alice","password":"wrong"}`), 401},
		{"missing fields", post("/login", "application/json", `{}`), 401},
		{"not JSON", post("/login", "application/json", `{"username":`), 400},
		{"wrong types", post("/login", "application/json", `{"username":5}`), 400},
		{"trailing data", post("/login", "application/json", `{"username":"alice","password":"right"}garbage`), 400},
		{"two values", post("/login", "application/json", `{"username":"alice","password":"right"}{}`), 400},
		{"too large", post("/login", "application/json", `{"username":"`+strings.Repeat("a", maxLoginBody)+`"}`), 413},
		{"form too large", post("/login", "application/x-www-form-urlencoded", "username="+strings.Repeat("a", maxLoginBody)), 413},
		{"other type", post("/login", "text/plain", "alice:right"), 415},
		{"no type", post("/login", "", "alice:right"), 415},
		{"PUT", httptest.NewRequest(http.MethodPut, "http://example.com/login", nil), 405},
		{"page", httptest.NewRequest(http.MethodGet, "http://example.com/login?return=/x", nil), 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			res := serveWith(t, h, w, tc.r)
			if res.next != nil {
				t.Fatal("the login request went to the next handler")
			}
			if res.status != tc.status {
				t.Errorf("status %d, want %d; body %s", res.status, tc.status, w.Body)
			}
		})
	}
}

func TestLoginJSONResponse(t *testing.T) {
	h := loginHandler(t, " audience api\n")
	w := httptest.NewRecorder()
	serveWith(t, h, w, post("/login", "application/json", `{"username":"alice","password":"right"}`))
	if w.Header().Get("Cache-Control") != "no-store" || w.Header().Get("Pragma") != "no-cache" {
		t.Errorf("cache headers: %v", w.Header())
	}
	for _, want := range []string{`"token_type":"Bearer"`, `"expires_in":900`, `"refresh_token":"`, `"refresh_expires_in":604800`} {
		if !strings.Contains(w.Body.String(), want) {
			t.Errorf("body %s lacks %s", w.Body, want)
		}
	}
	cookies := w.Result().Cookies()
	if len(cookies) != 2 || cookies[0].Name != "access_token" || !cookies[0].HttpOnly || !cookies[0].Secure ||
		cookies[0].SameSite != http.SameSiteLaxMode || cookies[0].MaxAge != 900 || cookies[0].Path != "/" ||
		cookies[1].Name != "access_token_refresh" || cookies[1].Path != "/" || cookies[1].SameSite != http.SameSiteLaxMode { // /login, /refresh, /logout: their common folder
		t.Errorf("cookies: %v", w.Header()["Set-Cookie"])
	}
	// The access token passes the guard and says what the spec says.
	res := serve(t, h, bearer(cookies[0].Value))
	if res.status != 0 {
		t.Fatalf("issued token refused: %d %s", res.status, res.header.Get("WWW-Authenticate"))
	}
	claims := jwt.MapClaims{}
	tok, _, err := jwt.NewParser().ParseUnverified(cookies[0].Value, claims)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Header["typ"] != "JWT" || tok.Header["kid"] != secretKid([]byte(testSecret)) || claims["sub"] != "alice" || claims["aud"] != "api" || claims["iss"] != "http://example.com" ||
		claims["jti"] == nil || claims["sid"] == nil || claims["nbf"] == nil || claims["iat"] == nil {
		t.Errorf("header %v claims %v", tok.Header, claims)
	}
}

func TestRefreshRotationAndReuse(t *testing.T) {
	h := loginHandler(t, " refresh_grace 0\n") // reuse at once (session_test.go has the grace)
	login := httptest.NewRecorder()
	serveWith(t, h, login, post("/login", "application/json", `{"username":"alice","password":"right"}`))
	refresh := login.Result().Cookies()[1].Value

	first := httptest.NewRecorder()
	serveWith(t, h, first, post("/refresh", "application/json", `{"refresh_token":"`+refresh+`"}`))
	if first.Code != 200 {
		t.Fatalf("refresh: %d %s", first.Code, first.Body)
	}
	newAccess := first.Result().Cookies()[0].Value
	if res := serve(t, h, bearer(refresh)); res.status != 401 {
		t.Errorf("a refresh token passed the guard: %d", res.status)
	}

	reuse := httptest.NewRecorder()
	serveWith(t, h, reuse, post("/refresh", "application/json", `{"refresh_token":"`+refresh+`"}`))
	if reuse.Code != 401 || !strings.Contains(reuse.Body.String(), "invalid_grant") {
		t.Errorf("reuse: %d %s", reuse.Code, reuse.Body)
	}
	if res := serve(t, h, bearer(newAccess)); res.status != 401 || !strings.Contains(res.header.Get("WWW-Authenticate"), "token revoked") {
		t.Errorf("after reuse the login's newest access token: %d %s", res.status, res.header.Get("WWW-Authenticate"))
	}
	if res := serve(t, h, bearer(login.Result().Cookies()[0].Value)); res.status != 401 {
		t.Errorf("access token passes after its login was revoked: %d", res.status)
	}
}

func TestLogoutRevokes(t *testing.T) {
	h := loginHandler(t, "")
	login := httptest.NewRecorder()
	serveWith(t, h, login, post("/login", "application/json", `{"username":"alice","password":"right"}`))
	access, refresh := login.Result().Cookies()[0].Value, login.Result().Cookies()[1].Value

	out := post("/logout", "", "")
	out.Header.Set("Authorization", "Bearer "+access)
	w := httptest.NewRecorder()
	serveWith(t, h, w, out)
	if w.Code != 204 || len(w.Result().Cookies()) != 2 || w.Result().Cookies()[0].MaxAge != -1 {
		t.Errorf("logout: %d %v", w.Code, w.Header()["Set-Cookie"])
	}
	if res := serve(t, h, bearer(access)); res.status != 401 {
		t.Errorf("access token passes after logout: %d", res.status)
	}
	again := httptest.NewRecorder()
	serveWith(t, h, again, post("/refresh", "application/json", `{"refresh_token":"`+refresh+`"}`))
	if again.Code != 401 {
		t.Errorf("refresh after logout: %d", again.Code)
	}
}

func TestCrossOriginPosts(t *testing.T) {
	h := loginHandler(t, " trusted_origins https://app.example\n")
	for _, tc := range []struct {
		origin, site string
		status       int
	}{
		{"https://evil.example", "", 403},
		{"", "cross-site", 403},
		{"https://app.example", "", 200},
		{"http://example.com", "same-origin", 200},
	} {
		r := post("/login", "application/json", `{"username":"alice","password":"right"}`)
		if tc.origin != "" {
			r.Header.Set("Origin", tc.origin)
		}
		if tc.site != "" {
			r.Header.Set("Sec-Fetch-Site", tc.site)
		}
		if res := serve(t, h, r); res.status != tc.status {
			t.Errorf("Origin %q Sec-Fetch-Site %q: %d, want %d", tc.origin, tc.site, res.status, tc.status)
		}
	}

	login := httptest.NewRecorder()
	serveWith(t, h, login, post("/login", "application/json", `{"username":"alice","password":"right"}`))
	access := login.Result().Cookies()[0].Value
	viaCookie := post("/api", "application/json", "{}")
	viaCookie.AddCookie(&http.Cookie{Name: "access_token", Value: access})
	viaCookie.Header.Set("Sec-Fetch-Site", "cross-site")
	if res := serve(t, h, viaCookie); res.status != 403 || res.header.Get("WWW-Authenticate") != "" {
		t.Errorf("cross-site POST with the cookie: %d %q", res.status, res.header.Get("WWW-Authenticate"))
	}
	viaHeader := post("/api", "application/json", "{}")
	viaHeader.Header.Set("Authorization", "Bearer "+access)
	viaHeader.Header.Set("Sec-Fetch-Site", "cross-site")
	if res := serve(t, h, viaHeader); res.status != 0 {
		t.Errorf("cross-site POST with a bearer token: %d", res.status)
	}
}

func TestIssuerConfigErrors(t *testing.T) {
	hash := bcryptHash(t, "x", bcrypt.MinCost)
	for _, tc := range []struct{ block, want string }{
		{"jwt_auth {\n secret " + testSecret + "\n login /login\n}", "login: no users"},
		{"jwt_auth {\n key " + writePKIX(t, t.TempDir(), "pub.pem", testKeys()["ed25519"].(ed25519.PrivateKey).Public()) + "\n user a " + hash + "\n login /login\n}", "no key can sign"},
		{"jwt_auth {\n secret " + testSecret + "\n user a " + hash + "\n refresh /r\n refresh_ttl 0\n}", "refresh: refresh tokens are off"},
		{"jwt_auth {\n secret " + testSecret + "\n trusted_origins not-an-origin\n}", "trusted_origins"},
		{"jwt_auth {\n secret " + testSecret + "\n user a plain\n login /login\n}", "user:"},
	} {
		if _, err := provision(t, tc.block); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.block, err, tc.want)
		}
	}
}

// TestLoginTitle: the built-in page says what one signs in to: the
// request's host without its port, or login_title, escaped.
func TestLoginTitle(t *testing.T) {
	for _, tc := range []struct{ extra, host, want string }{
		{"", "example.com:8443", "Sign in to example.com</h1>"},
		{" login_title \"Acme <Docs>\"\n", "example.com", "Sign in to Acme &lt;Docs&gt;</h1>"},
	} {
		h := loginHandler(t, tc.extra)
		r := httptest.NewRequest(http.MethodGet, "http://"+tc.host+"/login", nil)
		w := httptest.NewRecorder()
		serveWith(t, h, w, r)
		if body := w.Body.String(); w.Code != http.StatusOK || !strings.Contains(body, tc.want) {
			t.Errorf("login_title %q, host %s: %d, page lacks %q", tc.extra, tc.host, w.Code, tc.want)
		}
	}
}
