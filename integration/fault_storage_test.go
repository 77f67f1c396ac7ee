package integration

// Faults: a storage folder made read-only under a running instance and
// at start, on the built binary (run as nobody when the test is root).

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// revocationSync is how often an instance reads the revocations from
// storage (syncInterval in revocation.go).
const revocationSync = 3 * time.Second

// faultTokenCookie tells whether a response sets a token cookie with a
// value (clearing one, Max-Age=0 with no value, does not count).
func faultTokenCookie(h http.Header) string {
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if strings.HasPrefix(c.Name, "access_token") && c.Value != "" {
			return c.Name
		}
	}
	return ""
}

// faultSandbox is a world-readable folder with a copy of the binary, for a
// Caddy process that runs as an unprivileged user (nobody) when the test
// runs as root: root ignores file permissions, so a read-only storage
// folder would not be read-only to it. When the test is not root, the
// process runs as the test's own user, and plain permissions work.
type faultSandbox struct {
	root string
	bin  string
	cred *syscall.Credential // nil: the test's own user
}

const faultNobody = 65534

func newFaultSandbox(t *testing.T, bin string) *faultSandbox {
	t.Helper()
	root, err := os.MkdirTemp("", "caddyjwt-fault-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		faultWritable(t, root, true) // a read-only folder cannot be removed otherwise
		os.RemoveAll(root)
	})
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	s := &faultSandbox{root: root, bin: filepath.Join(root, "caddy")}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		s.cred = &syscall.Credential{Uid: faultNobody, Gid: faultNobody}
		cmd := exec.Command(s.bin, "version")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
		if out, err := cmd.CombinedOutput(); err != nil {
			msg := fmt.Sprintf("cannot run Caddy as uid %d: %v\n%s", faultNobody, err, out)
			if os.Getenv("CI") == "true" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	return s
}

// dir makes a folder that the process's user owns.
func (s *faultSandbox) dir(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(s.root, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if s.cred != nil {
		if err := os.Chown(dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// start runs Caddy on cfg as the sandbox's user, its data and config
// folders (XDG) its own.
func (s *faultSandbox) start(t *testing.T, cfg string, port int) *caddyNode {
	t.Helper()
	home := s.dir(t, fmt.Sprintf("home-%d", time.Now().UnixNano()))
	return startNode(t, s.bin, cfg, port, s.cred, "HOME="+home,
		"XDG_DATA_HOME="+filepath.Join(home, "data"), "XDG_CONFIG_HOME="+filepath.Join(home, "config"))
}

// faultWritable takes write permission away from everything under dir
// (chmod -R a-w), or gives the owner's back (chmod -R u+w).
func faultWritable(t *testing.T, dir string, writable bool) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		mode := info.Mode().Perm() &^ 0o222
		if writable {
			mode = info.Mode().Perm() | 0o200
		}
		return os.Chmod(p, mode)
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
}

// TestFaultReadOnlyStorage makes the storage folder read-only under a
// running instance: logins, refreshes and logouts fail cleanly with 503
// (no token issued, nothing half-made), while validation keeps working and
// revocations made before stay enforced. With write permission back,
// nothing stored before was lost, also across a restart. A start on a
// read-only storage is checked with and without a key stored.
func TestFaultReadOnlyStorage(t *testing.T) {
	bin := buildCaddy(t)
	box := newFaultSandbox(t, bin)
	hash := bcryptHash(t, nodePassword)
	storage := box.dir(t, "storage")
	cfg := filepath.Join(box.root, "Caddyfile")
	faultWriteFile(t, cfg, faultReadConfig(t, storage, hash))
	port := faultPort(41)
	node := box.start(t, cfg, port)
	node.wait(t)
	url := func(path string) string { return node.base + path }

	kids := node.jwks(t)
	kept := node.login(t) // its refresh token is spent only after the storage is writable again
	live := node.login(t) // used and logged out while the storage is read-only
	gone := node.login(t) // logged out before
	if status, body := node.post(t, "/logout", gone.AccessToken, ""); status != http.StatusNoContent {
		t.Fatalf("logout: %d %q", status, body)
	}
	node.expect(t, "logged out before", gone.AccessToken, 401)

	faultWritable(t, storage, false)
	if box.cred == nil { // the process is the test's own user: check from here
		if err := os.WriteFile(filepath.Join(storage, "probe"), nil, 0o600); err == nil {
			t.Fatal("the storage folder is still writable after chmod a-w")
		}
	}

	t.Run("ReadOnly", func(t *testing.T) {
		// Each 503 is a Caddy HTTP error, like the endpoints' 413, 415
		// and 429: its body is what handle_errors makes of it (empty by
		// default), and it never carries a token or sets a token cookie.
		r := sendRequest(nodeClient, http.MethodPost, url("/login"), "", `{"username":"alice","password":"`+nodePassword+`"}`)
		if r.Status != http.StatusServiceUnavailable {
			t.Errorf("login on read-only storage: %v, want 503", r)
		}
		if c := faultTokenCookie(r.Header); c != "" || strings.Contains(r.Body, "access_token") {
			t.Errorf("the refused login issued a token (cookie %q, body %q)", c, r.Body)
		}
		r = sendRequest(nodeClient, http.MethodPost, url("/refresh"), "", `{"refresh_token":"`+kept.RefreshToken+`"}`)
		if r.Status != http.StatusServiceUnavailable {
			t.Errorf("refresh on read-only storage: %v, want 503", r)
		}
		if c := faultTokenCookie(r.Header); c != "" || strings.Contains(r.Body, "access_token") || len(r.Header.Values("Set-Cookie")) > 0 {
			t.Errorf("the refused refresh set cookies %q or issued a token (body %q)", r.Header.Values("Set-Cookie"), r.Body)
		}
		// A logout that cannot be stored is reported and not half-made:
		// the token is not revoked on this instance only, and the
		// cookies are not cleared, so that the client knows to try
		// again.
		r = sendRequest(nodeClient, http.MethodPost, url("/logout"), live.AccessToken, "")
		if r.Status != http.StatusServiceUnavailable || len(r.Header.Values("Set-Cookie")) > 0 {
			t.Errorf("logout on read-only storage: %v, cookies %q; want 503 and no cookie cleared", r, r.Header.Values("Set-Cookie"))
		}
		// The revocation sync runs every 3 s: check twice, the second
		// time after a sync has read the read-only storage.
		for _, round := range []string{"at once", "after a revocation sync"} {
			node.expect(t, "access token issued before, "+round, live.AccessToken, 200)
			node.expect(t, "other access token issued before, "+round, kept.AccessToken, 200)
			r = sendRequest(nodeClient, http.MethodGet, url("/"), gone.AccessToken, "")
			if r.Status != 401 || !strings.Contains(r.Header.Get("WWW-Authenticate"), `error_description="token revoked"`) {
				t.Errorf("token logged out before, %s: %v, want 401 token revoked", round, r)
			}
			if got := node.jwks(t); strings.Join(got, " ") != strings.Join(kids, " ") {
				t.Errorf("JWKS %s: %v, want %v", round, got, kids)
			}
			if round == "at once" {
				time.Sleep(revocationSync + 500*time.Millisecond)
			}
		}
	})

	faultWritable(t, storage, true)
	t.Run("WritableAgain", func(t *testing.T) {
		status, body := node.refresh(t, kept.RefreshToken)
		if status != 200 {
			t.Fatalf("refresh with a refresh token issued before the read-only time: %d %q, want 200", status, body)
		}
		if err := json.Unmarshal([]byte(body), &kept); err != nil {
			t.Fatal(err)
		}
		node.login(t)
		if status, body := node.post(t, "/logout", live.AccessToken, ""); status != http.StatusNoContent {
			t.Errorf("logout once writable again: %d %q, want 204", status, body)
		}
	})

	t.Run("Restart", func(t *testing.T) {
		node.stop()
		node = box.start(t, cfg, port)
		node.wait(t)
		if got := node.jwks(t); strings.Join(got, " ") != strings.Join(kids, " ") {
			t.Errorf("JWKS after restart: %v, want %v (the same key auto key)", got, kids)
		}
		node.expectNow(t, "logged out before the read-only time", gone.AccessToken, 401)
		node.expectNow(t, "logged out after it", live.AccessToken, 401)
		node.expectNow(t, "refreshed after it", kept.AccessToken, 200)
		if status, body := node.refresh(t, kept.RefreshToken); status != 200 {
			t.Errorf("refresh after restart: %d %q, want 200", status, body)
		}
	})

	// A restart on a read-only storage that holds the key: the instance
	// starts and validates, as a verifier on a read-only copy of a
	// cluster's storage would; logins fail with 503 as above.
	t.Run("StartReadOnlyWithKey", func(t *testing.T) {
		node.stop()
		faultWritable(t, storage, false)
		defer faultWritable(t, storage, true)
		node = box.start(t, cfg, port)
		faultWaitOrExit(t, node)
		if got := node.jwks(t); strings.Join(got, " ") != strings.Join(kids, " ") {
			t.Errorf("JWKS on a read-only start: %v, want %v", got, kids)
		}
		node.expectNow(t, "logged out before", gone.AccessToken, 401)
		node.expectNow(t, "live token", kept.AccessToken, 200)
		r := sendRequest(nodeClient, http.MethodPost, url("/login"), "", `{"username":"alice","password":"`+nodePassword+`"}`)
		if r.Status != http.StatusServiceUnavailable || faultTokenCookie(r.Header) != "" {
			t.Errorf("login on a read-only start: %v, want 503 without a token", r)
		}
		node.stop()
	})

	// A first start on a read-only storage: there is no key and none can
	// be made (making one takes the storage lock, a write), so the config
	// does not load, with an error that says so and names the storage.
	t.Run("StartReadOnlyNoKey", func(t *testing.T) {
		empty := box.dir(t, "empty-storage")
		faultWritable(t, empty, false)
		cfg2 := filepath.Join(box.root, "Caddyfile.empty")
		faultWriteFile(t, cfg2, faultReadConfig(t, empty, hash))
		n := box.start(t, cfg2, faultPort(42))
		var err error
		n.once.Do(func() { // instead of stop: wait for the process to end by itself
			done := make(chan error, 1)
			go func() { done <- n.cmd.Wait() }()
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				_ = syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
				<-done
				err = errors.New("still running after 20 s")
			}
		})
		if err == nil || strings.Contains(err.Error(), "still running") {
			t.Fatalf("caddy run on a read-only empty storage: %v; want it to exit with an error", err)
		}
		logs := n.logs.String()
		if !strings.Contains(logs, "key auto ES256: no key in storage yet, making one: locking storage") || !strings.Contains(logs, empty) {
			t.Errorf("the load error does not say that key auto found no key and could not lock the storage at %s:\n%s", empty, logs)
		}
		if _, msg, ok := strings.Cut(logs, "provision http.handlers.jwt_auth: "); ok {
			msg, _, _ = strings.Cut(msg, "\n")
			t.Logf("load error: %s", strings.TrimSuffix(msg, `"}`))
		}
	})
}

// faultReadConfig is clusterConfig's Caddyfile, written where the
// sandbox's user can read it.
func faultReadConfig(t *testing.T, storage, hash string) string {
	t.Helper()
	data, err := os.ReadFile(clusterConfig(t, storage, "key auto", hash))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// faultWaitOrExit waits until the instance answers, failing at once if
// the process exits first.
func faultWaitOrExit(t *testing.T, n *caddyNode) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		for i := 0; i < 300; i++ {
			if r := sendRequest(nodeClient, http.MethodGet, n.base+"/jwks", "", ""); r.err == nil {
				done <- nil
				return
			}
			// Exited: a zombie (state Z) until stop reaps it.
			if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", n.cmd.Process.Pid)); err == nil {
				if _, rest, _ := strings.Cut(string(stat), ") "); strings.HasPrefix(rest, "Z") {
					break
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		done <- errors.New("not answering")
	}()
	if err := <-done; err != nil {
		t.Fatalf("caddy %s is %v; output:\n%s", n.name, err, n.logs.String())
	}
}
