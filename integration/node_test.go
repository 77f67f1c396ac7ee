package integration

// The node starter: the built Caddy binary run as a process on a
// Caddyfile ("caddy run"), in a process group of its own and stopped when
// the test ends, and what the suites ask such a node: logins, refreshes,
// logouts, its JWKS and the guarded site's verdict on a token. The
// cluster, fault, example and browser suites use it.

import (
	"encoding/json"
	"fmt"
	"io/fs"
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

const (
	nodePassword = "cluster-test-password"
	nodePoll     = 200 * time.Millisecond
	nodeMaxSync  = 10 * time.Second // the SPEC's bound for a logout to reach the others
)

// nodeClient opens a new connection for every request, so that a
// restarted instance is never asked on a connection of the old one.
var nodeClient = &http.Client{
	Timeout:   10 * time.Second,
	Transport: &http.Transport{DisableKeepAlives: true},
}

// caddyNode is one Caddy process (the built binary), in its own process
// group.
type caddyNode struct {
	name string
	base string
	cmd  *exec.Cmd
	logs *syncBuffer
	once sync.Once
}

// runNode is startNode as the test's user, with Caddy's data and config
// folders (XDG) in temporary folders of the test's own.
func runNode(t *testing.T, bin, cfg string, port int) *caddyNode {
	t.Helper()
	return startNode(t, bin, cfg, port, nil, "XDG_DATA_HOME="+t.TempDir(), "XDG_CONFIG_HOME="+t.TempDir())
}

// startNode runs "caddy run" on cfg in a process group of its own, as
// cred's user unless cred is nil, with env added to the test's environment
// and CLUSTER_PORT set to port. It is stopped when the test ends, and its
// output shown if the test failed.
func startNode(t *testing.T, bin, cfg string, port int, cred *syscall.Credential, env ...string) *caddyNode {
	t.Helper()
	n := &caddyNode{
		name: fmt.Sprintf("localhost:%d", port),
		base: fmt.Sprintf("http://localhost:%d", port),
		logs: new(syncBuffer),
	}
	n.cmd = exec.Command(bin, "run", "--config", cfg, "--adapter", "caddyfile")
	n.cmd.Env = append(append(os.Environ(), env...), fmt.Sprintf("CLUSTER_PORT=%d", port))
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred}
	n.cmd.Dir = repoRoot // where the README runs Caddy from: example/Caddyfile's paths are relative to it
	n.cmd.Stdout, n.cmd.Stderr = n.logs, n.logs
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		n.stop()
		if t.Failed() {
			t.Logf("caddy %s output:\n%s", n.name, n.logs.String())
		}
	})
	return n
}

// wait waits until the instance answers.
func (n *caddyNode) wait(t *testing.T) {
	t.Helper()
	waitFor(t, n.base+"/jwks")
}

// stop ends the process group and waits for the process.
func (n *caddyNode) stop() {
	n.once.Do(func() {
		_ = syscall.Kill(-n.cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = n.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
}

// do sends a request to the node with nodeClient, a bearer token and a
// JSON body when they are not "", and stops the test on a transport error.
func (n *caddyNode) do(t *testing.T, method, path, bearer, jsonBody string) (int, string) {
	t.Helper()
	r := sendRequest(nodeClient, method, n.base+path, bearer, jsonBody)
	if r.err != nil {
		t.Fatalf("%s %s%s: %v", method, n.name, path, r.err)
	}
	return r.Status, r.Body
}

// post sends a POST to the node (see do).
func (n *caddyNode) post(t *testing.T, path, bearer, jsonBody string) (int, string) {
	t.Helper()
	return n.do(t, http.MethodPost, path, bearer, jsonBody)
}

// login signs alice in with nodePassword and returns the tokens.
func (n *caddyNode) login(t *testing.T) issTokens {
	t.Helper()
	status, body := n.post(t, "/login", "", `{"username":"alice","password":"`+nodePassword+`"}`)
	var tok issTokens
	if err := json.Unmarshal([]byte(body), &tok); err != nil || status != 200 || tok.AccessToken == "" || tok.RefreshToken == "" {
		t.Fatalf("POST %s/login: %d %q (%v)", n.name, status, body, err)
	}
	return tok
}

// refresh posts a refresh token to /refresh.
func (n *caddyNode) refresh(t *testing.T, refreshToken string) (int, string) {
	t.Helper()
	return n.post(t, "/refresh", "", `{"refresh_token":"`+refreshToken+`"}`)
}

// jwks lists the kids of the instance's JWKS, in order.
func (n *caddyNode) jwks(t *testing.T) []string {
	t.Helper()
	status, body := n.do(t, http.MethodGet, "/jwks", "", "")
	var doc struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil || status != 200 {
		t.Fatalf("GET %s/jwks: %d %q (%v)", n.name, status, body, err)
	}
	var kids []string
	for _, k := range doc.Keys {
		kids = append(kids, k.Kid)
	}
	return kids
}

// expect checks what the protected site answers to a token.
func (n *caddyNode) expect(t *testing.T, what, token string, want int) {
	t.Helper()
	status, body := n.do(t, http.MethodGet, "/", token, "")
	if status != want || (want == 200 && body != "ok alice") {
		t.Errorf("%s: GET %s/ answered %d %q, want %d", what, n.name, status, body, want)
	}
}

// expectNow is expect for what must hold from the first request; when it
// does not, it tells whether it came later.
func (n *caddyNode) expectNow(t *testing.T, what, token string, want int) {
	t.Helper()
	status, body := n.do(t, http.MethodGet, "/", token, "")
	if status == want {
		return
	}
	t.Errorf("%s: GET %s/ answered %d %q at once, want %d", what, n.name, status, body, want)
	start := time.Now()
	for time.Since(start) < nodeMaxSync {
		time.Sleep(nodePoll)
		if status, _ := n.do(t, http.MethodGet, "/", token, ""); status == want {
			t.Logf("%s: %d only after %v", what, want, time.Since(start).Round(time.Millisecond))
			return
		}
	}
	t.Logf("%s: still not %d after %v", what, want, nodeMaxSync)
}

// pollUntil asks every 200 ms until the site answers want to the token,
// and returns how long after start that was; past 10 s the test fails.
func (n *caddyNode) pollUntil(t *testing.T, what, token string, want int, start time.Time) time.Duration {
	t.Helper()
	var status int
	var body string
	for {
		status, body = n.do(t, http.MethodGet, "/", token, "")
		if status == want {
			return time.Since(start)
		}
		if time.Since(start) > nodeMaxSync {
			t.Fatalf("%s: GET %s/ still answers %d %q after %v, want %d",
				what, n.name, status, body, time.Since(start).Round(time.Millisecond), want)
		}
		time.Sleep(nodePoll)
	}
}

// storageDir makes a storage directory for Caddy processes, and shows what
// is in it when the test fails, after the instances have stopped.
func storageDir(t *testing.T) string {
	dir := t.TempDir()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("storage %s:\n%s", dir, storageListing(dir))
		}
	})
	return dir
}

// storageListing lists what caddyjwt keeps under the storage directory,
// with the content of revocations and families (never private keys).
func storageListing(storage string) string {
	var out strings.Builder
	root := filepath.Join(storage, "caddyjwt")
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(storage, p)
		info, _ := d.Info()
		fmt.Fprintf(&out, "  %s (%s)", rel, info.ModTime().Format("15:04:05.000"))
		if !strings.Contains(rel, "keys") {
			if data, err := os.ReadFile(p); err == nil {
				fmt.Fprintf(&out, " %s", data)
			}
		}
		out.WriteString("\n")
		return nil
	})
	return out.String()
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

// nodeConfig writes a Caddyfile for a Caddy process on storage: one site
// http://localhost:{$CLUSTER_PORT} (the port comes from the environment,
// so instances can share the file) answering "ok <sub>", whose jwt_auth
// holds the given lines and every issuer endpoint (/login, /refresh,
// /logout, /jwks).
func nodeConfig(t *testing.T, storage string, jwtLines ...string) string {
	t.Helper()
	cfg := fmt.Sprintf(`{
	admin off
	auto_https off
	storage file_system %s
}

http://localhost:{$CLUSTER_PORT} {
	jwt_auth {
%s
		login /login
		refresh /refresh
		logout /logout
		jwks_endpoint /jwks
	}
	respond "ok {http.auth.user.id}"
}
`, storage, lines(jwtLines...))
	path := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
