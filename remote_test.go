package caddyjwt

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"go.uber.org/zap"
)

func TestMaxAge(t *testing.T) {
	for header, want := range map[string]time.Duration{
		"":                               time.Hour,
		"no-cache":                       time.Hour,
		"public, max-age=300":            5 * time.Minute,
		"max-age=10":                     time.Minute,
		"max-age=999999":                 24 * time.Hour,
		`MAX-AGE="120", must-revalidate`: 2 * time.Minute,
		"max-age=-5":                     time.Hour,
		"max-age=soon":                   time.Hour,
	} {
		if got := maxAge(header); got != want {
			t.Errorf("maxAge(%q) = %v, want %v", header, got, want)
		}
	}
}

func TestCheckRemoteURL(t *testing.T) {
	for raw, ok := range map[string]bool{
		"https://idp.example/jwks":      true,
		"http://127.0.0.1:8080/jwks":    true,
		"http://127.8.9.10/jwks":        true,
		"http://localhost/jwks":         true,
		"http://[::1]:9000/jwks":        true,
		"http://idp.example/jwks":       false,
		"http://10.0.0.1/jwks":          false,
		"http://localhost.evil.example": false,
		"ftp://idp.example/jwks":        false,
		"/jwks":                         false,
	} {
		if err := checkRemoteURL(raw); (err == nil) != ok {
			t.Errorf("checkRemoteURL(%q) = %v, want ok=%v", raw, err, ok)
		}
	}
}

// fakeJWKS serves a JWK set of one P-256 key and counts its requests.
func fakeJWKS(t *testing.T, kid string) (*httptest.Server, *atomic.Int32, *ecdsa.PrivateKey) {
	t.Helper()
	priv := testKeys()["p256"].(*ecdsa.PrivateKey)
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Cache-Control", "max-age=120")
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: &priv.PublicKey, KeyID: kid, Algorithm: "ES256", Use: "sig"},
		}})
	}))
	t.Cleanup(srv.Close)
	return srv, &hits, priv
}

func TestRemoteFetchAndLimits(t *testing.T) {
	srv, hits, _ := fakeJWKS(t, "r1")
	rk := newRemoteKeys(srv.URL, "", zap.NewNop())
	ttl, err := rk.fetch(context.Background())
	if err != nil || ttl != 2*time.Minute || len(rk.keys()) != 1 || rk.keys()[0].kid != "r1" || !rk.keys()[0].remote {
		t.Fatalf("fetch: %v %v %+v", ttl, err, rk.keys())
	}

	// Unknown kids: one refetch a minute, shared.
	before := hits.Load()
	for range 5 {
		rk.refetch(context.Background())
	}
	if got := hits.Load() - before; got != 1 {
		t.Errorf("5 unknown-kid refetches made %d requests, want 1", got)
	}

	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"keys":[` + strings.Repeat(" ", remoteMaxBody) + `]}`))
	}))
	defer big.Close()
	rk.jwksURL = big.URL
	if _, err := rk.fetch(context.Background()); err == nil || !strings.Contains(err.Error(), "1 MiB") {
		t.Errorf("an oversized set: %v", err)
	}
	if len(rk.keys()) != 1 {
		t.Error("a failed fetch lost the last good keys")
	}
}

func TestOIDCDiscoveryMustNameTheIssuer(t *testing.T) {
	jwks, _, _ := fakeJWKS(t, "o1")
	var issuer string
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": issuer, "jwks_uri": jwks.URL})
	}))
	defer idp.Close()

	issuer = idp.URL
	rk := newRemoteKeys("", idp.URL, zap.NewNop())
	if _, err := rk.fetch(context.Background()); err != nil || len(rk.keys()) != 1 {
		t.Fatalf("discovery: %v", err)
	}
	issuer = "https://impostor.example"
	other := newRemoteKeys("", idp.URL, zap.NewNop())
	if _, err := other.fetch(context.Background()); err == nil {
		t.Error("a discovery document naming another issuer was followed")
	}
}

func TestRemoteSetsNeverBringHMACKeys(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: []byte(testSecret), KeyID: "oct", Algorithm: "HS256"},
			{Key: &testKeys()["p256"].(*ecdsa.PrivateKey).PublicKey, Algorithm: "ES256"},
		}})
	}))
	defer srv.Close()
	rk := newRemoteKeys(srv.URL, "", zap.NewNop())
	if _, err := rk.fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	keys := rk.keys()
	if len(keys) != 1 || keys[0].algs[0] != "ES256" {
		t.Fatalf("a published HMAC key was taken: %v", kidsOf(keys))
	}
	if keys[0].anyKid || keys[0].kid == "" {
		t.Errorf("a remote key without kid answers any kid (no refetch would happen): %+v", keys[0])
	}
}
