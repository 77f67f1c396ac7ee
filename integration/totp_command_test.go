package integration

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TestTOTPCommand runs `caddy jwt totp` with the built binary: a secret
// that jwt_auth accepts, its otpauth:// URI naming the issuer and the
// user, and a QR code drawn in half blocks.
func TestTOTPCommand(t *testing.T) {
	bin := buildCaddy(t)
	run := func(args ...string) (string, string, error) {
		c := exec.Command(bin, append([]string{"jwt", "totp"}, args...)...)
		var out, errOut bytes.Buffer
		c.Stdout, c.Stderr = &out, &errOut
		err := c.Run()
		return out.String(), errOut.String(), err
	}
	out, errOut, err := run("--issuer", "Example Site", "alice")
	if err != nil {
		t.Fatalf("caddy jwt totp: %v\n%s", err, errOut)
	}
	fields := map[string]string{}
	for line := range strings.Lines(out) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ": "); ok && (k == "secret" || k == "uri") {
			fields[k] = v
		}
	}
	key, err := otp.NewKeyFromURL(fields["uri"])
	if err != nil {
		t.Fatalf("uri %q: %v\n%s", fields["uri"], err, out)
	}
	if key.Type() != "totp" || key.Issuer() != "Example Site" || key.AccountName() != "alice" || key.Secret() != fields["secret"] ||
		key.Period() != 30 || key.Digits() != otp.DigitsSix || key.Algorithm() != otp.AlgorithmSHA1 || len(fields["secret"]) != 32 {
		t.Errorf("key %+v from:\n%s", key.URL(), out)
	}
	if !strings.Contains(out, `"totp": "`+fields["secret"]+`"`) {
		t.Errorf("no users-file line:\n%s", out)
	}
	if strings.Count(out, "\n") < 20 || !strings.ContainsAny(out, "▀▄█") {
		t.Errorf("no QR code:\n%s", out)
	}
	code, _ := totp.GenerateCode(fields["secret"], time.Now())
	if !totp.Validate(code, fields["secret"]) {
		t.Error("the secret makes no valid codes")
	}

	if out, _, err := run("--qr=false", "bob"); err != nil || strings.ContainsAny(out, "▀▄█") {
		t.Errorf("--qr=false: %v\n%s", err, out)
	}
	if _, errOut, err := run("bad\x01name"); err == nil || !strings.Contains(errOut, "bad name") {
		t.Errorf("a bad user name: %v %s", err, errOut)
	}
	if _, _, err := run(); err == nil {
		t.Error("no user: accepted")
	}
}
