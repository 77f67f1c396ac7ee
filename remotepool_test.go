package caddyjwt

import (
	"crypto/ecdsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
)

// TestRemoteKeysSharedByHandlers: 20 handlers naming one jwks URL fetch
// it once at provision; an unknown kid on any of them refetches once for
// all, and every handler takes the new keys; each keeps its own issuer
// binding and algorithm narrowing; the pool entry is gone after the last
// Cleanup.
func TestRemoteKeysSharedByHandlers(t *testing.T) {
	priv := testKeys()["p256"].(*ecdsa.PrivateKey)
	var hits atomic.Int32
	var kid atomic.Value
	kid.Store("r1")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Cache-Control", "max-age=3600")
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: &priv.PublicKey, KeyID: kid.Load().(string), Algorithm: "ES256", Use: "sig"},
		}})
	}))
	defer srv.Close()

	const n = 20
	handlers := make([]*Handler, n)
	for i := range handlers {
		iss := "https://a.example"
		if i%2 == 1 {
			iss = "https://b.example"
		}
		handlers[i] = mustProvision(t, "jwt_auth {\n jwks "+srv.URL+"\n issuer "+iss+"\n}")
	}
	// A handler narrowed to an algorithm the set does not serve shares
	// the fetch but takes none of its keys.
	narrowed := mustProvision(t, "jwt_auth {\n jwks "+srv.URL+"\n algorithms RS256\n issuer https://a.example\n}")
	if got := hits.Load(); got != 1 {
		t.Fatalf("%d handlers on one jwks URL fetched it %d times at provision, want 1", n+1, got)
	}

	// The provider rotates; a token with the new kid on one handler
	// refetches once, and every handler accepts it at once.
	kid.Store("r2")
	tok := func(k, iss string) string {
		return mint(t, "ES256", priv, valid(jwt.MapClaims{"iss": iss}), map[string]any{"kid": k})
	}
	if res := serve(t, handlers[7], bearer(tok("r2", "https://b.example"))); res.status != 0 {
		t.Fatalf("the new kid was refused after the refetch: %d", res.status)
	}
	if got := hits.Load(); got != 2 {
		t.Errorf("an unknown kid made %d fetches in all, want 2", got)
	}
	for i, h := range handlers {
		iss := "https://a.example"
		if i%2 == 1 {
			iss = "https://b.example"
		}
		if res := serve(t, h, bearer(tok("r2", iss))); res.status != 0 {
			t.Errorf("handler %d did not take the refetched keys: %d", i, res.status)
		}
	}
	// Each handler keeps its own binding and narrowing (these refuse
	// without a fetch: the minute's refetch is spent).
	for i, h := range handlers {
		iss, other := "https://a.example", "https://b.example"
		if i%2 == 1 {
			iss, other = other, iss
		}
		if res := serve(t, h, bearer(tok("r2", iss))); res.status != 0 {
			t.Fatalf("handler %d refused a token of its issuer: %d", i, res.status)
		}
		if res := serve(t, h, bearer(tok("r2", other))); res.status != 401 {
			t.Fatalf("handler %d took a token of another handler's issuer: %d", i, res.status)
		}
	}
	if res := serve(t, narrowed, bearer(tok("r2", "https://a.example"))); res.status != 401 {
		t.Errorf("a handler narrowed to RS256 accepted an ES256 remote key: %d", res.status)
	}

	// Fetches are counted in each subscribed handler's metrics (each has
	// a registry of its own here): the first handler saw the provision
	// fetch and the refetch, the last only the refetch.
	if got := fetchCount(handlers[0], "ok"); got != 2 {
		t.Errorf("the first handler counted %v fetches, want 2", got)
	}
	if got := fetchCount(handlers[n-1], "ok"); got != 1 {
		t.Errorf("the last handler counted %v fetches, want 1", got)
	}

	// Unknown kids on every other handler: the minute's refetch is spent
	// for the source, whichever handler asks.
	for _, h := range handlers {
		serve(t, h, bearer(tok("r3", "https://a.example")))
	}
	if got := hits.Load(); got != 2 {
		t.Errorf("unknown kids on %d handlers made %d fetches in all, want 2", n, got)
	}

	key := remoteSourceName(srv.URL, "")
	if refs, ok := remotePool.References(key); !ok || refs != n+1 {
		t.Errorf("pool references: %d %v, want %d", refs, ok, n+1)
	}
	for _, h := range append(handlers, narrowed) {
		if err := h.Cleanup(); err != nil {
			t.Fatal(err)
		}
	}
	if refs, ok := remotePool.References(key); ok {
		t.Errorf("the pool entry outlived every handler: %d references", refs)
	}
}

// fetchCount reads a handler's jwks fetch counter.
func fetchCount(h *Handler, result string) float64 {
	reg := prometheus.NewRegistry()
	reg.MustRegister(h.metrics.jwksFetches)
	families, _ := reg.Gather()
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
