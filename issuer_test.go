package caddyjwt

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// TestIssuerNeedsOnlyItsDeps builds an issuer without a Handler: what it
// needs of the guard comes through issuerDeps alone. Logout revokes the
// token and the login the guard verified; the JWKS and the discovery
// document come from the deps.
func TestIssuerNeedsOnlyItsDeps(t *testing.T) {
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	revocations := newRevocationList(storage, zap.NewNop())
	m, _ := newMetrics(nil)
	exp := time.Now().Add(time.Hour)
	is, err := newIssuer(IssuerConfig{Logout: "/logout", JWKSEndpoint: "/jwks"}, issuerDeps{
		presented: func(*http.Request) (verifiedToken, bool) {
			return verifiedToken{sub: "alice", sid: "login-1", jti: "token-1", exp: &exp}, true
		},
		jwks:        func() []byte { return []byte(`{"keys":[]}`) },
		revocations: revocations,
		csrf:        http.NewCrossOriginProtection(),
		storage:     storage,
		logger:      zap.NewNop(),
		metrics:     m,
		name:        "https://issuer.example",
	})
	if err != nil {
		t.Fatal(err)
	}
	if is.endpoint("/login") != nil || is.endpoint("/refresh") != nil {
		t.Error("login and refresh served though not configured")
	}

	w := httptest.NewRecorder()
	if err := is.endpoint("/logout")(w, httptest.NewRequest(http.MethodPost, "http://example.com/logout", nil)); err != nil || w.Code != http.StatusNoContent {
		t.Fatalf("logout: %d %v", w.Code, err)
	}
	if !revocations.revoked("token-1") || !revocations.revoked("login-1") {
		t.Error("logout did not revoke the token and its login")
	}

	w = httptest.NewRecorder()
	if err := is.endpoint("/jwks")(w, httptest.NewRequest(http.MethodGet, "http://example.com/jwks", nil)); err != nil || w.Body.String() != `{"keys":[]}` {
		t.Errorf("jwks: %q %v", w.Body, err)
	}
	w = httptest.NewRecorder()
	if err := is.endpoint("/.well-known/openid-configuration")(w, httptest.NewRequest(http.MethodGet, "http://example.com/.well-known/openid-configuration", nil)); err != nil ||
		!strings.Contains(w.Body.String(), `"issuer":"https://issuer.example"`) || !strings.Contains(w.Body.String(), `"jwks_uri":"https://issuer.example/jwks"`) {
		t.Errorf("discovery: %s %v", w.Body, err)
	}
}

// TestIssuerLoginNeedsASigner: login is refused at load when the key ring
// cannot sign.
func TestIssuerLoginNeedsASigner(t *testing.T) {
	users := []User{{Name: "alice", Password: bcryptHash(t, "right", 4)}}
	_, err := newIssuer(IssuerConfig{Login: "/login", Users: users}, issuerDeps{
		signer: func() *key { return nil },
		logger: zap.NewNop(),
	})
	if err == nil || !strings.Contains(err.Error(), "login: no key can sign tokens") {
		t.Errorf("got %v", err)
	}
}

func TestCommonFolder(t *testing.T) {
	for _, tc := range []struct {
		paths []string
		want  string
	}{
		{[]string{"/auth/login", "/auth/refresh", "/auth/logout"}, "/auth/"},
		{[]string{"/login", "/refresh", "/logout"}, "/"},
		{[]string{"/auth/login", "/auth/logout"}, "/auth/"}, // never "/auth/lo": it would not path-match
		{[]string{"/a/b/login", "/a/c/refresh", ""}, "/a/"},
		{[]string{"", "/x/refresh", ""}, "/x/"},
		{[]string{"/login", "/auth/refresh"}, "/"},
		{[]string{"", "", ""}, "/"},
	} {
		if got := commonFolder(tc.paths...); got != tc.want {
			t.Errorf("commonFolder(%q) = %q, want %q", tc.paths, got, tc.want)
		}
	}
}
