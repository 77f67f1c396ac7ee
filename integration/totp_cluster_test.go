package integration

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestTOTPCluster runs two Caddy processes (the built binary) on one
// storage: a code accepted by one is refused by the other, and a form
// sign-in whose password went to one is finished on the other.
func TestTOTPCluster(t *testing.T) {
	bin := buildCaddy(t)
	users, secret := totpUsers(t)
	cfg := totpNodeConfig(t, storageDir(t), users)
	a := runNode(t, bin, cfg, 9295+portOffset)
	b := runNode(t, bin, cfg, 9296+portOffset)
	for _, n := range []*caddyNode{a, b} {
		waitFor(t, n.base+"/auth/login")
	}

	code := totpCode(t, secret, time.Now())
	if r := totpLoginJSON(t, a.base, "alice", code); r.Status != 200 {
		t.Fatalf("code on A: %s", r)
	}
	if r := totpLoginJSON(t, b.base, "alice", code); r.Status != 401 || !strings.Contains(r.Body, "invalid_credentials") {
		t.Errorf("the same code on B: %s, want 401 invalid_credentials", r)
	}
	if r := totpLoginJSON(t, a.base, "alice", code); r.Status != 401 {
		t.Errorf("the same code on A again: %s, want 401", r)
	}

	// Both at once with a fresh code: exactly one is accepted.
	code = totpNextCode(t, secret)
	results := make(chan int, 2)
	for _, n := range []*caddyNode{a, b} {
		go func() {
			r, err := try(totpClient, http.MethodPost, n.base+"/auth/login",
				jsonBody(map[string]string{"username": "alice", "password": totpPassword, "otp": code}))
			if err != nil {
				results <- 0
				return
			}
			results <- r.Status
		}()
	}
	got := fmt.Sprint(<-results, <-results)
	if got != "200 401" && got != "401 200" {
		t.Errorf("one code on both at once: %s, want one 200 and one 401", got)
	}

	// The form's first step on A, the code on B.
	step1 := doWith(t, totpClient, http.MethodPost, a.base+"/auth/login",
		formBody("username", "alice", "password", totpPassword, "return", "/admin/"))
	pending := totpCookieValue(t, "step 1 on A", step1, "access_token_otp")
	if step1.Status != 200 || pending == "" {
		t.Fatalf("step 1 on A: %s", step1)
	}
	code = totpNextCode(t, secret)
	done := doWith(t, totpClient, http.MethodPost, b.base+"/auth/login", formBody("otp", code), cookie("access_token_otp", pending))
	if done.Status != 303 || done.Header.Get("Location") != "/admin/" {
		t.Errorf("step 2 on B: %s", done)
	}
	if r := doWith(t, totpClient, http.MethodPost, a.base+"/auth/login", formBody("otp", code), cookie("access_token_otp", pending)); r.Status != 401 {
		t.Errorf("the pending sign-in spent on B, again on A: %s", r)
	}
}
