// Package integration holds the black-box suites of caddyjwt: they talk
// to Caddy over HTTP only, either to the in-process Caddy of caddytest
// (harness_test.go) or to the built binary run as a process
// (node_test.go), like Caddy's own caddytest/integration. Everything they
// share is in the *helpers_test.go files and harness_test.go: one Caddy
// build per run, one fake identity provider, one echo upstream, one
// metrics reader, one request helper and one node starter.
package integration

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddyjwt/caddyjwt"
)

// portOffset moves every port the suites listen on (the in-process Caddy's
// admin 2999, HTTP 9080 and HTTPS 9443, the cluster's 9281–9284, the fault
// tests' 10000+n): CADDYJWT_TEST_PORT_OFFSET=N lets two test binaries (of
// two checkouts, say) run at once.
var portOffset = func() int {
	n, _ := strconv.Atoi(os.Getenv("CADDYJWT_TEST_PORT_OFFSET"))
	return n
}()

// repoRoot is the repository's root folder: the tests run in integration/.
var repoRoot = func() string {
	dir, err := filepath.Abs("..")
	if err != nil {
		panic(err)
	}
	return dir
}()

// TestMain removes the Caddy binary that buildCaddy made, once every test
// has run.
func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// built is the one Caddy binary of this test run (see buildCaddy).
var built struct {
	once sync.Once
	dir  string // the temporary folder holding it
	bin  string
	err  error
	out  []byte
}

// buildCaddy returns the repository's main package (./cmd/caddy), built
// as users build it. It is built once per test binary, on the first call,
// and shared by every test that runs Caddy as a process; a failed build
// fails each of them. Under -short it skips the test.
func buildCaddy(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds Caddy")
	}
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "caddyjwt-integration-")
		if built.err != nil {
			return
		}
		built.bin = filepath.Join(built.dir, "caddy")
		cmd := exec.Command("go", "build", "-o", built.bin, "./cmd/caddy")
		cmd.Dir = repoRoot
		built.out, built.err = cmd.CombinedOutput()
	})
	if built.err != nil {
		t.Fatalf("go build ./cmd/caddy: %v\n%s", built.err, built.out)
	}
	return built.bin
}

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

// repoPath is a path under the repository's root, for the files the
// suites read (example/, cmd/).
func repoPath(rel string) string { return filepath.Join(repoRoot, rel) }

// waitFor polls url until something answers, for 30 s.
func waitFor(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if r := sendRequest(nodeClient, http.MethodGet, url, "", ""); r.err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("nothing answers at %s", url)
}
