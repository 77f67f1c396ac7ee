package integration

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestCluster runs two real Caddy processes on one file_system storage, as
// docs/state.md and docs/recipes/cluster.md describe a cluster: one
// `key auto` key for both, a logout on one refused by the other within
// 10 s, a refresh token spent once across both, nothing lost on restart,
// failed logins counted for both, and key rotation picked up by both.
func TestCluster(t *testing.T) {
	bin := buildCaddy(t)
	hash := bcryptHash(t, nodePassword)
	t.Run("SharedState", func(t *testing.T) { clusterSharedState(t, bin, hash) })
	t.Run("KeyRotation", func(t *testing.T) { clusterKeyRotation(t, bin, hash) })
}

func clusterSharedState(t *testing.T, bin, hash string) {
	storage := storageDir(t)
	cfg := clusterConfig(t, storage, "key auto", hash)
	a := runNode(t, bin, cfg, 9281+portOffset)
	b := runNode(t, bin, cfg, 9282+portOffset) // started together: the key is made under the storage lock
	a.wait(t)
	b.wait(t)

	// 1. One key for both.
	kidsA, kidsB := a.jwks(t), b.jwks(t)
	if len(kidsA) != 1 || !slices.Equal(kidsA, kidsB) {
		t.Fatalf("JWKS kids: A %v, B %v; want one and the same kid", kidsA, kidsB)
	}
	kid := kidsA[0]
	t.Logf("shared kid %s", kid)
	if _, err := os.Stat(filepath.Join(storage, "caddyjwt", "keys", "auto-es256.pem")); err != nil {
		t.Errorf("the key is not in storage: %v", err)
	}
	fromA, fromB := a.login(t), b.login(t)
	for _, tok := range []issTokens{fromA, fromB} {
		if got := clusterKid(t, tok.AccessToken); got != kid {
			t.Errorf("token signed by kid %s, JWKS has %s", got, kid)
		}
	}
	b.expect(t, "A's token on B", fromA.AccessToken, 200)
	a.expect(t, "B's token on A", fromB.AccessToken, 200)
	a.expect(t, "A's token on A", fromA.AccessToken, 200)
	b.expect(t, "B's token on B", fromB.AccessToken, 200)

	// 2. A logout on A is refused on B within 10 s.
	loggedOut := a.login(t)
	b.expect(t, "before logout, on B", loggedOut.AccessToken, 200)
	start := time.Now()
	if status, body := a.post(t, "/logout", loggedOut.AccessToken, ""); status != http.StatusNoContent {
		t.Fatalf("POST A/logout: %d %q, want 204", status, body)
	}
	a.expect(t, "after logout, on A at once", loggedOut.AccessToken, 401)
	delay := b.pollUntil(t, "logged-out token on B", loggedOut.AccessToken, 401, start)
	t.Logf("logout on A refused on B after %v (design ~3 s, bound %v)", delay.Round(time.Millisecond), nodeMaxSync)
	if status, body := b.refresh(t, loggedOut.RefreshToken); status != 401 || !strings.Contains(body, "invalid_grant") {
		t.Errorf("refresh on B with the logged-out login's refresh token: %d %q, want 401 invalid_grant", status, body)
	}
	a.expect(t, "another login still on A after the logout", fromA.AccessToken, 200)

	// 3. A refresh token spent on A cannot be spent again on B; the reuse
	// revokes the whole login on both.
	first := a.login(t)
	status, body := a.refresh(t, first.RefreshToken)
	if status != 200 {
		t.Fatalf("refresh on A: %d %q, want 200", status, body)
	}
	var second issTokens
	if err := json.Unmarshal([]byte(body), &second); err != nil || second.AccessToken == "" || second.RefreshToken == "" {
		t.Fatalf("refresh on A answered %q: %v", body, err)
	}
	b.expect(t, "refreshed token on B", second.AccessToken, 200)
	start = time.Now()
	if status, body := b.refresh(t, first.RefreshToken); status != 401 || !strings.Contains(body, "invalid_grant") {
		t.Fatalf("refresh on B with the refresh token spent on A: %d %q, want 401 invalid_grant", status, body)
	}
	b.expect(t, "refreshed access token on B after the reuse", second.AccessToken, 401)
	b.expect(t, "first access token on B after the reuse", first.AccessToken, 401)
	delay = a.pollUntil(t, "refreshed access token on A after the reuse on B", second.AccessToken, 401, start)
	t.Logf("refresh-token reuse on B revoked the login on A after %v", delay.Round(time.Millisecond))
	a.expect(t, "first access token on A after the reuse", first.AccessToken, 401)
	for _, n := range []*caddyNode{a, b} {
		if status, body := n.refresh(t, second.RefreshToken); status != 401 {
			t.Errorf("refresh on %s with the revoked login's newest refresh token: %d %q, want 401", n.name, status, body)
		}
	}

	// 4. Restart B: the revocations and the key are read back at start.
	b.stop()
	b = runNode(t, bin, cfg, 9282+portOffset)
	b.wait(t)
	if got := b.jwks(t); !slices.Equal(got, []string{kid}) {
		t.Errorf("JWKS kids on restarted B: %v, want [%s]", got, kid)
	}
	b.expectNow(t, "logged-out token on restarted B", loggedOut.AccessToken, 401)
	b.expectNow(t, "reused login's access token on restarted B", second.AccessToken, 401)
	b.expectNow(t, "A's live token on restarted B", fromA.AccessToken, 200)
	if got := clusterKid(t, b.login(t).AccessToken); got != kid {
		t.Errorf("restarted B signs with kid %s, want %s", got, kid)
	}

	// 5. Failed logins count for the cluster: alice's limit (5 a minute)
	// spent on A holds on B within the sync interval — polled with the
	// right password, which B would otherwise let in (and which spends
	// nothing).
	wrong := `{"username":"alice","password":"wrong"}`
	for i := range 5 {
		if status, body := a.post(t, "/login", "", wrong); status != http.StatusUnauthorized {
			t.Fatalf("wrong password %d on A: %d %q", i, status, body)
		}
	}
	if status, _ := a.post(t, "/login", "", wrong); status != http.StatusTooManyRequests {
		t.Fatalf("A over the limit: %d, want 429", status)
	}
	start = time.Now()
	right := `{"username":"alice","password":"` + nodePassword + `"}`
	for {
		status, body := b.post(t, "/login", "", right)
		if status == http.StatusTooManyRequests {
			break
		}
		if status != http.StatusOK {
			t.Fatalf("alice on B while A's count travels: %d %q", status, body)
		}
		if time.Since(start) > nodeMaxSync {
			t.Fatalf("B still lets alice in %v after A counted her limit", time.Since(start))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("failed logins on A refused alice on B after %v", time.Since(start).Round(time.Millisecond))
}

func clusterKeyRotation(t *testing.T, bin, hash string) {
	const rotate = 4 * time.Second
	storage := storageDir(t)
	cfg := clusterConfig(t, storage, "key auto ES256 {\n\t\t\trotate 4s\n\t\t}\n\t\taccess_ttl 30s\n\t\trefresh_ttl 1m", hash)
	a := runNode(t, bin, cfg, 9283+portOffset)
	b := runNode(t, bin, cfg, 9284+portOffset)
	a.wait(t)
	b.wait(t)

	t1 := a.login(t)
	k1 := clusterKid(t, t1.AccessToken)
	created := clusterKeyCreated(t, storage)
	due := created.Add(rotate)
	t.Logf("K1 %s created %s; rotation due %s (in %v)", k1, created.Format(time.RFC3339), due.Format(time.RFC3339), time.Until(due).Round(time.Millisecond))
	if kids := b.jwks(t); !slices.Contains(kids, k1) {
		t.Fatalf("B's JWKS %v lacks K1 %s", kids, k1)
	}

	// Poll both: JWKS and a login on each, until both sign with one new kid.
	var jwksSeen, signSeen [2]time.Time
	var kA, kB string
	deadline := due.Add(nodeMaxSync)
	for {
		for i, n := range []*caddyNode{a, b} {
			if jwksSeen[i].IsZero() && slices.ContainsFunc(n.jwks(t), func(k string) bool { return k != k1 }) {
				jwksSeen[i] = time.Now()
			}
		}
		kA, kB = clusterKid(t, a.login(t).AccessToken), clusterKid(t, b.login(t).AccessToken)
		if signSeen[0].IsZero() && kA != k1 {
			signSeen[0] = time.Now()
		}
		if signSeen[1].IsZero() && kB != k1 {
			signSeen[1] = time.Now()
		}
		if kA == kB && kA != k1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v after the rotation was due, A signs with %s and B with %s (K1 %s)",
				time.Since(due).Round(time.Millisecond), kA, kB, k1)
		}
		time.Sleep(nodePoll)
	}
	k2 := kA
	both := time.Now()
	// The rotation is made once, under the storage lock: before the next
	// one is due, one key is retired, not one per instance.
	retired, _ := filepath.Glob(filepath.Join(storage, "caddyjwt", "keys", "auto-es256-retired-*.pem"))
	if len(retired) != 1 && time.Since(due) < rotate {
		t.Errorf("%d retired keys %v after the rotation was due", len(retired), time.Since(due))
	}
	t.Logf("rotation pickup after due time: new kid in JWKS A %v, B %v; A signs with it %v, B %v; both sign with %s %v",
		jwksSeen[0].Sub(due).Round(time.Millisecond), jwksSeen[1].Sub(due).Round(time.Millisecond),
		signSeen[0].Sub(due).Round(time.Millisecond), signSeen[1].Sub(due).Round(time.Millisecond),
		k2, both.Sub(due).Round(time.Millisecond))
	if both.Sub(due) > nodeMaxSync/2 {
		t.Errorf("both instances signed with a new kid only %v after the rotation was due (checks every %v)", both.Sub(due), time.Second)
	}

	for _, n := range []*caddyNode{a, b} {
		kids := n.jwks(t)
		if !slices.Contains(kids, k1) || !slices.Contains(kids, k2) {
			t.Errorf("%s's JWKS %v, want K1 %s and K2 %s", n.name, kids, k1, k2)
		}
		n.expect(t, "T1 (signed by the retired K1) on "+n.name, t1.AccessToken, 200)
	}
	t2 := b.login(t)
	if got := clusterKid(t, t2.AccessToken); got != k2 && got != k1 {
		t.Logf("B rotated again meanwhile: signs with %s", got)
	}
	a.expect(t, "B's token after rotation on A", t2.AccessToken, 200)
	if status, body := a.refresh(t, t1.RefreshToken); status != 200 {
		t.Errorf("refresh on A with T1's refresh token (signed by K1): %d %q, want 200", status, body)
	}
}

// clusterConfig writes a Caddyfile for one instance of the cluster (see
// nodeConfig): the key subdirectives given, alice, and every endpoint.
// One site served by every instance: here each instance has an address of
// its own (a port), so the site names its issuer. A spent refresh token
// is reuse at once (refresh_grace 0s; the grace has suites of its own).
func clusterConfig(t *testing.T, storage, key, hash string) string {
	t.Helper()
	return nodeConfig(t, storage, key, "issuer http://cluster.test", "user alice "+hash, "refresh_grace 0s")
}

// clusterKid reads the kid from a token's header.
func clusterKid(t *testing.T, token string) string {
	t.Helper()
	h, _ := issParts(t, token)
	kid, _ := h["kid"].(string)
	if kid == "" {
		t.Fatalf("token header %v has no kid", h)
	}
	return kid
}

// clusterKeyCreated reads when the current auto key was made, from the
// Created header of its PEM in storage.
func clusterKeyCreated(t *testing.T, storage string) time.Time {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(storage, "caddyjwt", "keys", "auto-es256.pem"))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "Created: "); ok {
			created, err := time.Parse(time.RFC3339, strings.TrimSpace(v))
			if err != nil {
				t.Fatal(err)
			}
			return created
		}
	}
	t.Fatalf("the stored key has no Created header:\n%s", strings.SplitN(string(data), "\n", 3)[:2])
	return time.Time{}
}
