package caddyjwt

import (
	"context"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
)

// The second factor: RFC 6238 time-based one-time codes (SHA-1, 6 digits,
// 30-second steps), the code of the step before or after the current one
// accepted too (clock drift, a code typed as it changes). The codes are
// made by github.com/pquerna/otp; this file decides which step a code
// belongs to and that each step is spent once per user.

const (
	totpPeriod = 30 // seconds per step
	totpSkew   = 1  // steps accepted on either side of the current one
	totpDigits = 6

	// totpMinSecret is the shortest secret accepted, in bytes: RFC 4226
	// (R6) asks for at least 128 bits.
	totpMinSecret = 16

	// otpUsedDir holds, per user, the last step whose code was accepted.
	otpUsedDir = "caddyjwt/otp/used"
)

var hotpOpts = hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// parseTOTPSecret checks a base32 secret (RFC 4648, case-insensitive,
// padding and spaces optional) and returns it in the form the codes are
// made from. Errors never hold the secret.
func parseTOTPSecret(s string) (string, error) {
	norm := strings.ToUpper(strings.Join(strings.Fields(s), ""))
	norm = strings.TrimRight(norm, "=")
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(norm)
	if err != nil {
		return "", errors.New("not base32 (RFC 4648: A-Z, 2-7)")
	}
	if len(raw) < totpMinSecret {
		return "", fmt.Errorf("%d bits; at least %d are needed (caddy jwt totp makes one)", len(raw)*8, totpMinSecret*8)
	}
	return norm, nil
}

// matchingSteps are the time steps, among the step of t and its
// neighbours, whose code is code, newest first. A code that is not six
// digits matches none. Codes are compared in constant time.
func matchingSteps(secret, code string, t time.Time) []uint64 {
	if !isCode(code) {
		return nil
	}
	current := t.Unix() / totpPeriod
	var steps []uint64
	for s := current + totpSkew; s >= current-totpSkew; s-- {
		if s < 0 {
			break
		}
		want, err := hotp.GenerateCodeCustom(secret, uint64(s), hotpOpts)
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			steps = append(steps, uint64(s))
		}
	}
	return steps
}

// isCode tells whether s is totpDigits ASCII digits.
func isCode(s string) bool {
	if len(s) != totpDigits {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// normalizeCode drops the spaces a person may type inside a code
// ("123 456").
func normalizeCode(s string) string {
	return strings.Join(strings.Fields(s), "")
}

// acceptCode tells whether code is a valid code of acct's secret that no
// earlier login of the user spent; a valid one is spent. An error is the
// storage's (the caller answers 503).
func (is *issuer) acceptCode(ctx context.Context, user string, acct *account, code string) (bool, error) {
	steps := matchingSteps(acct.totp, normalizeCode(code), now())
	if len(steps) == 0 {
		return false, nil
	}
	return is.spendStep(ctx, user, steps)
}

// spendStep records, under a storage lock shared by the cluster, that the
// user spent the newest of steps, when it is later than the last step the
// user spent; false when none is (a replayed code, or an older one than
// a code already accepted). One small entry per user holds the last step.
func (is *issuer) spendStep(ctx context.Context, user string, steps []uint64) (bool, error) {
	if is.storage == nil {
		return false, errors.New("one-time codes need Caddy's storage")
	}
	id := hashKey(is.name + "\x00" + user)
	lock := "caddyjwt_otp_" + id
	if err := is.storage.Lock(ctx, lock); err != nil {
		return false, fmt.Errorf("locking the user's one-time codes: %w", err)
	}
	defer func() { _ = is.storage.Unlock(context.WithoutCancel(ctx), lock) }()

	key := path.Join(otpUsedDir, id)
	var last uint64
	data, err := is.storage.Load(ctx, key)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return false, fmt.Errorf("reading the user's last one-time code step: %w", err)
	default:
		if last, err = strconv.ParseUint(string(data), 10, 64); err != nil {
			return false, fmt.Errorf("reading the user's last one-time code step: %w", err)
		}
	}
	if steps[0] <= last {
		return false, nil
	}
	if err := is.storage.Store(ctx, key, []byte(strconv.FormatUint(steps[0], 10))); err != nil {
		return false, fmt.Errorf("recording the one-time code step: %w", err)
	}
	return true, nil
}

// passwordAMR is what a password login carries into every token of the
// login (RFC 8176 amr): the password, and the code when one was checked.
func passwordAMR(withCode bool) map[string]any {
	if withCode {
		return map[string]any{"amr": []any{"pwd", "otp"}}
	}
	return map[string]any{"amr": []any{"pwd"}}
}
