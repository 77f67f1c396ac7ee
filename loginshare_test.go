package caddyjwt

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// TestLoginLimitSharedByTheCluster: two instances of one site on one
// storage (two handlers, as two Caddy processes would be) share the
// failed-login count: after the first instance counted the limit for a
// user, the second refuses that user too once both have synced, from any
// address; before the sync each counts alone (the lag the README states).
// Sites of another issuer do not share it.
func TestLoginLimitSharedByTheCluster(t *testing.T) {
	storage := t.TempDir()
	hash := bcryptHash(t, "right", bcrypt.MinCost)
	block := "jwt_auth {\n secret " + testSecret + "\n user alice " + hash + "\n login /login\n login_limit 3 1m\n issuer https://site.test\n}"
	a := mustProvisionOn(t, storage, block)
	b := mustProvisionOn(t, storage, block)
	other := mustProvisionOn(t, storage, "jwt_auth {\n secret "+testSecret+"\n user alice "+hash+"\n login /login\n login_limit 3 1m\n issuer https://other.test\n}")
	wrong := `{"username":"alice","password":"wrong"}`
	for i := range 3 {
		if status, _ := loginFrom(a, "192.0.2."+strconv.Itoa(i+1)+":1000", wrong); status != http.StatusUnauthorized {
			t.Fatalf("wrong password %d on A: %d", i, status)
		}
	}
	if status, _ := loginFrom(a, "192.0.2.9:1000", wrong); status != http.StatusTooManyRequests {
		t.Fatalf("A over its limit: %d, want 429", status)
	}
	if status, _ := loginFrom(b, "198.51.100.1:1000", wrong); status != http.StatusUnauthorized {
		t.Fatalf("B before any sync: %d, want 401 (it has counted nothing yet)", status)
	}
	ctx := context.Background()
	for _, h := range []*Handler{a, b, other} {
		if err := h.issuer.shared.sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if status, h := loginFrom(b, "198.51.100.2:1000", `{"username":"alice","password":"right"}`); status != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
		t.Errorf("B after the sync, alice from a new address: %d, want 429 with Retry-After", status)
	}
	if status, _ := loginFrom(other, "198.51.100.3:1000", `{"username":"alice","password":"right"}`); status != http.StatusOK {
		t.Errorf("a site of another issuer on the same storage: %d, want 200 (counts are per issuer)", status)
	}
}
