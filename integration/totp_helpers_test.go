package integration

// Helpers of the second-factor suites (totp_*_test.go): a users file
// with alice (password and TOTP secret) and bob (password only), a site
// whose /admin/* needs amr otp, and codes computed with pquerna/otp.

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

const totpPassword = "totp-test-password"

// totpClient opens a connection per request (nodes restart, configs
// reload) and returns redirects instead of following them.
var totpClient = &http.Client{
	Transport:     &http.Transport{DisableKeepAlives: true},
	CheckRedirect: noRedirect,
	Timeout:       10 * time.Second,
}

// totpUsers writes a users file (alice with a new TOTP secret, bob
// without) and returns its path and alice's secret.
func totpUsers(t *testing.T) (file, secret string) {
	t.Helper()
	raw := make([]byte, 20)
	_, _ = rand.Read(raw)
	secret = base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw)
	hash := bcryptHash(t, totpPassword)
	file = filepath.Join(t.TempDir(), "users.json")
	data := fmt.Sprintf(`{"alice": {"password": %q, "totp": %q}, "bob": {"password": %q}}`, hash, secret, hash)
	if err := os.WriteFile(file, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return file, secret
}

// totpCode is the code of secret at t.
func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// totpNextCode waits, when needed, until a new step starts, so that a
// test that spends several codes gets a code no earlier login spent, and
// answers it. Steps are 30 s: at most one wait per test.
func totpNextCode(t *testing.T, secret string) string {
	t.Helper()
	next := time.Unix((time.Now().Unix()/30+1)*30, 0)
	t.Logf("waiting %v for the next TOTP step", time.Until(next).Round(time.Millisecond))
	time.Sleep(time.Until(next) + 50*time.Millisecond)
	return totpCode(t, secret, time.Now())
}

// totpSiteBody is the body of a site with second-factor logins: the
// issuer's endpoints under /auth/, /admin/* needing a login with a code
// (require amr otp), the rest any login; all on key auto in the storage.
func totpSiteBody(usersFile string, extra ...string) string {
	more := ""
	for _, e := range extra {
		more += "\t\t\t" + e + "\n"
	}
	return fmt.Sprintf(`	handle /auth/* {
		jwt_auth {
			key auto
			issuer http://totp.test
			users_file %s
			login /auth/login
			refresh /auth/refresh
			logout /auth/logout
%s		}
	}
	handle /admin/* {
		jwt_auth {
			key auto
			issuer http://totp.test
			require amr otp
			redirect /auth/login
		}
		respond "admin {http.auth.user.id}"
	}
	handle {
		jwt_auth {
			key auto
			issuer http://totp.test
			redirect /auth/login
		}
		respond "ok {http.auth.user.id}"
	}
`, usersFile, more)
}

// totpNodeConfig writes a Caddyfile for a Caddy process on storage: the
// site of totpSiteBody on http://localhost:{$CLUSTER_PORT}.
func totpNodeConfig(t *testing.T, storage, usersFile string) string {
	t.Helper()
	cfg := fmt.Sprintf("{\n\tadmin off\n\tauto_https off\n\tstorage file_system %s\n}\n\nhttp://localhost:{$CLUSTER_PORT} {\n%s}\n",
		storage, totpSiteBody(usersFile))
	path := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// totpLoginJSON posts a JSON login with a code ("" for none).
func totpLoginJSON(t *testing.T, base, user, code string) response {
	t.Helper()
	body := map[string]string{"username": user, "password": totpPassword}
	if code != "" {
		body["otp"] = code
	}
	return doWith(t, totpClient, http.MethodPost, base+"/auth/login", jsonBody(body))
}

// totpCookieValue is the value of the cookie name that r sets, "" for
// none (or one being cleared).
func totpCookieValue(t *testing.T, label string, r response, name string) string {
	t.Helper()
	line := issSetCookie(t, label, r, name)
	if line == "" {
		return ""
	}
	nv, _, _ := strings.Cut(line, ";")
	return nv[len(name)+1:]
}
