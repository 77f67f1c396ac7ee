package caddyjwt

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddytest"
)

// TestUnmarshalCaddyfileErrors: syntax mistakes, refused by the parser
// with the file and line. Mistaken values are Validate's: see
// TestConfigMistakes.
func TestUnmarshalCaddyfileErrors(t *testing.T) {
	for _, tc := range []struct {
		block string
		want  string
	}{
		{"jwt_auth arg {\n}", "wrong argument count"},
		{"jwt_auth {\n bogus 1\n}", `unknown subdirective "bogus"`},
		{"jwt_auth {\n secret\n}", "secret: one value expected"},
		{"jwt_auth {\n secret a\n secret b\n}", "secret: given more than once"},
		{"jwt_auth {\n key\n}", "key: expected <file> [<kid>]"},
		{"jwt_auth {\n key a b c\n}", "key: expected <file> [<kid>]"},
		{"jwt_auth {\n algorithms\n}", "algorithms: at least one"},
		{"jwt_auth {\n issuer\n}", "issuer: at least one"},
		{"jwt_auth {\n audience\n}", "audience: at least one"},
		{"jwt_auth {\n leeway soon\n}", `leeway: invalid duration "soon"`},
		{"jwt_auth {\n max_lifetime\n}", "max_lifetime: one duration expected"},
		{"jwt_auth {\n optional yes\n}", "optional: takes no arguments"},
		{"jwt_auth {\n allow_missing_exp 1\n}", "allow_missing_exp: takes no arguments"},
		{"jwt_auth {\n require\n}", "require: expected <claim>"},
		{"jwt_auth {\n from header\n}", "from: expected header|cookie|query <name>"},
		{"jwt_auth {\n except\n}", "except: at least one path"},
		{"jwt_auth {\n claim_header sub\n}", "claim_header: expected <claim> <header>"},
		{"jwt_auth {\n jwks\n}", "jwks: one URL expected"},
		{"jwt_auth {\n key auto {\n rotate\n }\n}", "key auto: rotate expects one positive duration"},
		{"jwt_auth {\n key auto {\n renew 1h\n }\n}", `key auto: unknown option "renew"`},
		{"jwt_auth {\n user alice\n}", "user: expected <name> <hash>"},
		{"jwt_auth {\n login_limit 5\n}", "login_limit: expected <count> <window>"},
		{"jwt_auth {\n login_limit five 1m\n}", "login_limit: expected a positive count and window"},
		{"jwt_auth {\n key auto {\n rotate 0s\n }\n}", "key auto: rotate expects one positive duration"},
		{"jwt_auth {\n access_ttl 0s\n}", "access_ttl: must be positive"},
		{"jwt_auth {\n cookie a b {\n }\n}", "cookie: expected [<name>] and a block"},
		{"jwt_auth {\n cookie {\n secure\n }\n}", `cookie: unknown option "secure"`},
		{"jwt_auth {\n trusted_origins\n}", "trusted_origins: at least one origin"},
	} {
		var h Handler
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.block))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.block, err, tc.want)
		}
		if err != nil && !strings.Contains(err.Error(), "Testfile:") {
			t.Errorf("%q: the error does not name the file and line: %v", tc.block, err)
		}
	}
}

func TestProvisionErrorsNameTheSubdirective(t *testing.T) {
	for _, tc := range []struct {
		block, want string
	}{
		{"jwt_auth {\n}", "no key configured"},
		{"jwt_auth {\n secret short\n}", "secret: HMAC secret is 5 bytes"},
		{"jwt_auth {\n secret {env.CADDYJWT_UNSET_VARIABLE}\n}", "secret: HMAC secret is 0 bytes"},
		{"jwt_auth {\n key /nonexistent/key.pem\n}", "key /nonexistent/key.pem"},
		{"jwt_auth {\n secret " + testSecret + "\n algorithms RS256\n}", "algorithms: no key serves RS256"},
		{"jwt_auth {\n secret " + testSecret + "\n algorithms none\n}", "algorithms: none is never accepted"},
	} {
		if _, err := provision(t, tc.block); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.block, err, tc.want)
		}
	}
}

// TestCaddyfileAdapt adapts each testdata/caddyfile_adapt/*.caddyfiletest
// (a Caddyfile, a line of dashes, the expected JSON) and compares.
func TestCaddyfileAdapt(t *testing.T) {
	files, err := filepath.Glob("testdata/caddyfile_adapt/*.caddyfiletest")
	if err != nil || len(files) == 0 {
		t.Fatalf("no adapt cases: %v", err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		caddyfileText, expected, ok := strings.Cut(string(data), "\n----------\n")
		if !ok {
			t.Fatalf("%s: no ---------- separator", file)
		}
		if !caddytest.CompareAdapt(t, file, caddyfileText+"\n", "caddyfile", strings.TrimRight(expected, "\n")) {
			t.Errorf("%s: adapted JSON differs", file)
		}
	}
}
