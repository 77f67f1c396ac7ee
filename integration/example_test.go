package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestExample(t *testing.T) {
	needTool(t, "openssl")
	bin := buildCaddy(t)

	modules, err := exec.Command(bin, "list-modules").Output()
	if err != nil || !strings.Contains(string(modules), "http.handlers.jwt_auth") {
		t.Fatalf("list-modules does not name http.handlers.jwt_auth: %v\n%s", err, modules)
	}
	if out, err := inRepo(exec.Command(bin, "validate", "--config", "example/Caddyfile")).CombinedOutput(); err != nil {
		t.Fatalf("caddy validate example/Caddyfile: %v\n%s", err, out)
	}

	runExample(t, bin)

	mintToken := func(claims string) string {
		cmd := inRepo(exec.Command("example/mint-token.sh", "demo-only-secret-do-not-use-0123456789", claims))
		// The example's issuer is its login site's address, moved with
		// the ports by CADDYJWT_TEST_PORT_OFFSET.
		cmd.Env = append(os.Environ(), fmt.Sprintf("ISSUER=http://localhost:%d", 8080+portOffset))
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("mint-token.sh: %v", err)
		}
		return strings.TrimSpace(string(out))
	}
	alice := mintToken(`{"sub":"alice","email":"alice@example.com","roles":["admin","dev"],"scope":"read:api"}`)
	noScope := mintToken(`{"sub":"bob"}`)
	loggedIn := exampleLogin(t, "alice", "alice-demo-password")

	for _, tc := range []struct {
		url, token, spoof string
		status            int
		body              string
	}{
		{exampleURL(8080, "/"), "", "", 200, "caddyjwt example"},
		{exampleURL(8080, "/public/style.css"), "", "", 200, "font-family"},
		{exampleURL(8080, "/members.html"), "", "", 401, ""},
		{exampleURL(8080, "/public/../members.html"), "", "", 401, ""},
		{exampleURL(8080, "/members.html"), alice + "x", "", 401, ""},
		{exampleURL(8080, "/members.html"), alice, "", 200, "Members only"},
		{exampleURL(8081, "/"), noScope, "", 403, ""},
		{exampleURL(8081, "/"), alice, "mallory", 200, "X-User:  alice\nX-Email: alice@example.com\nX-Roles: admin,dev"},
		{exampleURL(8080, "/members.html"), loggedIn, "", 200, "Members only"},
		{exampleURL(8081, "/"), loggedIn, "", 200, "X-User:  alice\nX-Email: alice@example.com\nX-Roles: admin,dev"},
		{exampleURL(8080, "/.well-known/jwks.json"), "", "", 200, `"alg":"ES256"`},
	} {
		var opts []reqOpt
		if tc.token != "" {
			opts = append(opts, bearer(tc.token))
		}
		if tc.spoof != "" {
			opts = append(opts, header("X-User", tc.spoof))
		}
		r := doWith(t, nodeClient, http.MethodGet, tc.url, opts...)
		if r.Status != tc.status || !strings.Contains(r.Body, tc.body) {
			t.Errorf("GET %s: %d %q, want %d containing %q", tc.url, r.Status, r.Body, tc.status, tc.body)
		}
	}
}

// exampleLogin signs in on the example's login endpoint with JSON and
// returns the access token.
func exampleLogin(t *testing.T, user, password string) string {
	t.Helper()
	r := doWith(t, nodeClient, http.MethodPost, exampleURL(8080, "/login"), jsonBody(map[string]string{"username": user, "password": password}))
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal([]byte(r.Body), &tok); err != nil || r.Status != 200 || tok.AccessToken == "" {
		t.Fatalf("login as %s: %s (%v)", user, r, err)
	}
	return tok.AccessToken
}

// inRepo runs cmd in the repository's root, where the README runs the
// example from (its paths are relative to it).
func inRepo(cmd *exec.Cmd) *exec.Cmd {
	cmd.Dir = repoRoot
	return cmd
}

// exampleURL is a URL on one of the example's sites (8080, 8081, 8082),
// its port moved by CADDYJWT_TEST_PORT_OFFSET as runExample moves it.
func exampleURL(port int, path string) string {
	return fmt.Sprintf("http://localhost:%d%s", port+portOffset, path)
}

// runExample runs the README's command, `caddy run --config
// example/Caddyfile`, from the repository root, and waits until its three
// sites answer; it is stopped when the test ends. With a port offset set,
// it runs a copy of example/Caddyfile whose ports 8080–8082 are moved by
// it (the paths in it stay relative to the root), so that two checkouts'
// tests can run at once.
func runExample(t *testing.T, bin string) *caddyNode {
	t.Helper()
	cfg := repoPath("example/Caddyfile")
	if portOffset != 0 {
		data, err := os.ReadFile(cfg)
		if err != nil {
			t.Fatal(err)
		}
		text := string(data)
		for _, port := range []int{8080, 8081, 8082} {
			text = strings.ReplaceAll(text, fmt.Sprintf("localhost:%d", port), fmt.Sprintf("localhost:%d", port+portOffset))
		}
		cfg = filepath.Join(t.TempDir(), "Caddyfile")
		if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	n := runNode(t, bin, cfg, 8080+portOffset)
	for _, port := range []int{8080, 8081, 8082} {
		waitFor(t, exampleURL(port, "/"))
	}
	return n
}
