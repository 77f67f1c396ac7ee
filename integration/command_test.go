package integration

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCommandBinary chains keygen, sign, inspect and verify through files
// with the real caddy binary, checking exit codes.
func TestCommandBinary(t *testing.T) {
	bin := buildCaddy(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "jwt.pem")
	run := func(stdin string, args ...string) (stdout, stderr string, code int) {
		t.Helper()
		c := exec.Command(bin, append([]string{"jwt"}, args...)...)
		c.Stdin = strings.NewReader(stdin)
		var out, errOut bytes.Buffer
		c.Stdout, c.Stderr = &out, &errOut
		err := c.Run()
		var exit *exec.ExitError
		switch {
		case errors.As(err, &exit):
			code = exit.ExitCode()
		case err != nil:
			t.Fatalf("running caddy jwt %v: %v", args, err)
		}
		return out.String(), errOut.String(), code
	}

	if _, errOut, code := run("", "keygen", "--alg", "EdDSA", "--out", keyFile); code != 0 || !strings.Contains(errOut, "kid: ") {
		t.Fatalf("keygen: exit %d\n%s", code, errOut)
	}
	tok, errOut, code := run("", "sign", "--key", keyFile, "--sub", "alice", "--claims", `{"aud":"api"}`)
	if code != 0 {
		t.Fatalf("sign: exit %d\n%s", code, errOut)
	}
	tokFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokFile, []byte(tok), 0o600); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(tokFile)
	if out, errOut, code := run(string(data), "verify", "--key", keyFile, "--audience", "api", "-"); code != 0 || !strings.Contains(out, `"alice"`) {
		t.Fatalf("verify: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if out, errOut, code := run(string(data), "inspect", "-"); code != 0 || !strings.Contains(out, `"verified": false`) || !strings.Contains(errOut, "UNVERIFIED") {
		t.Fatalf("inspect: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}

	if _, errOut, code := run(string(data), "verify", "--key", keyFile, "--audience", "other", "-"); code == 0 || !strings.Contains(errOut, "audience not accepted") {
		t.Errorf("verify with a wrong audience: exit %d\n%s", code, errOut)
	}
	expired, _, _ := run("", "sign", "--key", keyFile, "--ttl", "-1h")
	if _, errOut, code := run("", "verify", "--key", keyFile, strings.TrimSpace(expired)); code == 0 || !strings.Contains(errOut, "token expired") {
		t.Errorf("verify of an expired token: exit %d\n%s", code, errOut)
	}
	if _, errOut, code := run("", "keygen", "--out", keyFile); code == 0 || !strings.Contains(errOut, "refusing to overwrite") {
		t.Errorf("keygen over an existing key: exit %d\n%s", code, errOut)
	}
	if out, _, code := run("", "--help"); code != 0 || !strings.Contains(out, "caddy jwt verify") {
		t.Errorf("jwt --help: exit %d\n%s", code, out)
	}
}
