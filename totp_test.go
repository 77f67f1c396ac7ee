package caddyjwt

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/pquerna/otp/totp"
	"go.uber.org/zap"
)

// rfcSecret is the SHA-1 seed of RFC 6238's test vectors
// ("12345678901234567890"), in base32.
const rfcSecret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

func TestTOTPSecretParsing(t *testing.T) {
	for in, want := range map[string]string{
		rfcSecret:                  rfcSecret,
		strings.ToLower(rfcSecret): rfcSecret,
		"GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ": rfcSecret,
		"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP====":    "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
	} {
		got, err := parseTOTPSecret(in)
		if err != nil || got != want {
			t.Errorf("parseTOTPSecret(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "JBSWY3DPEHPK3PXP" /* 80 bits */, "not base32 at all 1890", rfcSecret + "1"} {
		_, err := parseTOTPSecret(bad)
		if err == nil {
			t.Errorf("parseTOTPSecret(%q): accepted", bad)
		} else if bad != "" && strings.Contains(err.Error(), bad) {
			t.Errorf("the error holds the secret: %v", err)
		}
	}
}

// TestTOTPCodeRFC6238 checks the codes against RFC 6238's SHA-1 test
// vectors (their last six digits).
func TestTOTPCodeRFC6238(t *testing.T) {
	for unix, code := range map[int64]string{59: "287082", 1111111109: "081804", 1234567890: "005924", 2000000000: "279037"} {
		steps := matchingSteps(rfcSecret, code, time.Unix(unix, 0))
		if !slices.Contains(steps, uint64(unix/30)) {
			t.Errorf("code %s at %d: steps %v", code, unix, steps)
		}
	}
}

func TestTOTPCodeSkew(t *testing.T) {
	at := time.Unix(1_800_000_015, 0) // the middle of a step
	for _, tc := range []struct {
		offset time.Duration
		ok     bool
	}{{0, true}, {-30 * time.Second, true}, {30 * time.Second, true}, {-60 * time.Second, false}, {60 * time.Second, false}} {
		code, err := totp.GenerateCode(rfcSecret, at.Add(tc.offset))
		if err != nil {
			t.Fatal(err)
		}
		steps := matchingSteps(rfcSecret, code, at)
		if got := len(steps) > 0; got != tc.ok {
			t.Errorf("code of now%+v: matched %v, want %v", tc.offset, steps, tc.ok)
		}
		if tc.ok && steps[0] != uint64(at.Add(tc.offset).Unix()/30) {
			t.Errorf("code of now%+v: step %d", tc.offset, steps[0])
		}
	}
	for _, bad := range []string{"", "12345", "1234567", "12345a", "١٢٣٤٥٦"} {
		if steps := matchingSteps(rfcSecret, bad, at); steps != nil {
			t.Errorf("%q matched %v", bad, steps)
		}
	}
	if normalizeCode(" 123 456 ") != "123456" {
		t.Error("spaces inside a code are not dropped")
	}
}

// TestTOTPReplay spends steps on one storage through two issuers, as
// two instances of a cluster: a step is spent once, and no older step
// after a newer one.
func TestTOTPReplay(t *testing.T) {
	store := &certmagic.FileStorage{Path: t.TempDir()}
	a := &issuer{issuerDeps: issuerDeps{storage: store, name: "https://a.example", logger: zap.NewNop()}}
	b := &issuer{issuerDeps: issuerDeps{storage: store, name: "https://a.example", logger: zap.NewNop()}}
	other := &issuer{issuerDeps: issuerDeps{storage: store, name: "https://other.example", logger: zap.NewNop()}}
	ctx := context.Background()
	spend := func(is *issuer, user string, step uint64) bool {
		t.Helper()
		ok, err := is.spendStep(ctx, user, []uint64{step})
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !spend(a, "alice", 100) {
		t.Fatal("first use refused")
	}
	if spend(b, "alice", 100) {
		t.Error("the same step accepted on the second instance")
	}
	if spend(a, "alice", 99) {
		t.Error("an older step accepted after a newer one")
	}
	if !spend(b, "bob", 100) || !spend(other, "alice", 100) {
		t.Error("another user's or another issuer's step was refused")
	}
	if !spend(b, "alice", 101) {
		t.Error("the next step refused")
	}
}

func TestTOTPAccountLoad(t *testing.T) {
	hash := bcryptHash(t, "pw", 4)
	if _, err := newAccount(User{Name: "alice", Password: hash, TOTP: "JBSWY3DP"}); err == nil ||
		!strings.Contains(err.Error(), "totp") || strings.Contains(err.Error(), "JBSWY3DP") {
		t.Errorf("short secret: %v", err)
	}
	a, err := newAccount(User{Name: "alice", Password: hash, TOTP: strings.ToLower(rfcSecret)})
	if err != nil || a.totp != rfcSecret {
		t.Errorf("good secret: %v %q", err, a.totp)
	}
	users, err := parseUsersFile([]byte(`{"alice": {"password": "` + hash + `", "totp": "` + rfcSecret + `"}}`))
	if err != nil || users["alice"].totp != rfcSecret {
		t.Errorf("users file: %v", err)
	}
	if _, err := parseUsersFile([]byte(`{"alice": {"password": "` + hash + `", "totp": "1!"}}`)); err == nil {
		t.Error("a users file with a bad secret was accepted")
	}
	if err := (IssuerConfig{Login: "/login", Users: []User{{Name: "a", Password: hash, TOTP: "x"}}}).Validate(); err == nil ||
		!strings.Contains(err.Error(), "totp") {
		t.Errorf("config user with a bad secret: %v", err)
	}
}
