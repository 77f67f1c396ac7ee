package caddyjwt

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// needTool finds a command the test needs: a missing one skips the test
// locally, and fails it under CI=true.
func needTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is needed under CI: %v", name, err)
		}
		t.Skipf("%s not installed: %v", name, err)
	}
	return path
}

// buildCaddy builds the repository's main package, as users run it.
func buildCaddy(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds Caddy")
	}
	bin := filepath.Join(t.TempDir(), "caddy")
	out, err := exec.Command("go", "build", "-o", bin, "./cmd/caddy").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./cmd/caddy: %v\n%s", err, out)
	}
	return bin
}

// TestExample builds Caddy with the plugin, checks list-modules, runs the
// README's command on example/Caddyfile and uses the example as a reader
// of the README would, with a token from example/mint-token.sh.
func TestExample(t *testing.T) {
	needTool(t, "openssl")
	bin := buildCaddy(t)

	modules, err := exec.Command(bin, "list-modules").Output()
	if err != nil || !strings.Contains(string(modules), "http.handlers.jwt_auth") {
		t.Fatalf("list-modules does not name http.handlers.jwt_auth: %v\n%s", err, modules)
	}
	if out, err := exec.Command(bin, "validate", "--config", "example/Caddyfile").CombinedOutput(); err != nil {
		t.Fatalf("caddy validate example/Caddyfile: %v\n%s", err, out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "run", "--config", "example/Caddyfile")
	cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+t.TempDir(), "XDG_CONFIG_HOME="+t.TempDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("caddy output:\n%s", logs.String())
		}
	}()
	waitFor(t, "http://localhost:8082/")

	mintToken := func(claims string) string {
		out, err := exec.Command("example/mint-token.sh", "demo-only-secret-do-not-use-0123456789", claims).Output()
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
		{"http://localhost:8080/", "", "", 200, "caddyjwt example"},
		{"http://localhost:8080/public/style.css", "", "", 200, "font-family"},
		{"http://localhost:8080/members.html", "", "", 401, ""},
		{"http://localhost:8080/public/../members.html", "", "", 401, ""},
		{"http://localhost:8080/members.html", alice + "x", "", 401, ""},
		{"http://localhost:8080/members.html", alice, "", 200, "Members only"},
		{"http://localhost:8081/", noScope, "", 403, ""},
		{"http://localhost:8081/", alice, "mallory", 200, "X-User:  alice\nX-Email: alice@example.com\nX-Roles: admin,dev"},
		{"http://localhost:8080/members.html", loggedIn, "", 200, "Members only"},
		{"http://localhost:8081/", loggedIn, "", 200, "X-User:  alice\nX-Email: alice@example.com\nX-Roles: admin,dev"},
		{"http://localhost:8080/.well-known/jwks.json", "", "", 200, `"alg":"ES256"`},
	} {
		req, _ := http.NewRequest(http.MethodGet, tc.url, nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		if tc.spoof != "" {
			req.Header.Set("X-User", tc.spoof)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.body) {
			t.Errorf("GET %s: %d %q, want %d containing %q", tc.url, resp.StatusCode, body, tc.status, tc.body)
		}
	}
}

// exampleLogin signs in on the example's login endpoint with JSON and
// returns the access token.
func exampleLogin(t *testing.T, user, password string) string {
	t.Helper()
	body := `{"username":"` + user + `","password":"` + password + `"}`
	resp, err := http.Post("http://localhost:8080/login", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != 200 || tok.AccessToken == "" {
		t.Fatalf("login as %s: %d %v", user, resp.StatusCode, err)
	}
	return tok.AccessToken
}

// waitFor polls url until something answers.
func waitFor(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("nothing answers at %s", url)
}

// syncBuffer collects a process's output, which its writers send from
// goroutines of their own.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
