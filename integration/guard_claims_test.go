package integration

// The guard's claim checks: time claims, issuer and audience, require
// rules.

import (
	"fmt"
	"testing"
	"time"
)

// TestIntegrationTimeClaims: exp, nbf, iat, leeway, allow_missing_exp,
// max_lifetime, and numeric-only time claims.
func TestIntegrationTimeClaims(t *testing.T) {
	tok := func(extra map[string]any) reqOpt { return bearer(hs(t, "alice", extra)) }

	t.Run("defaults", func(t *testing.T) {
		startCaddy(t, guardConfig(lines("secret "+hmac64)))
		wantInvalid(t, "no exp", get(t, "/", tok(map[string]any{"exp": nil})), "bad_claims", "expiry missing")
		wantInvalid(t, "exp a minute ago", get(t, "/", tok(map[string]any{"exp": unixIn(-time.Minute)})), "expired", "token expired")
		wantOK(t, "exp 10s ago, within the 30s leeway", get(t, "/", tok(map[string]any{"exp": unixIn(-10 * time.Second), "iat": unixIn(-time.Hour)})), "ok alice")
		wantInvalid(t, "exp 10s ago, issued after it", get(t, "/", tok(map[string]any{"exp": unixIn(-10 * time.Second)})), "bad_claims", "claim has wrong type")
		wantInvalid(t, "nbf in a minute", get(t, "/", tok(map[string]any{"nbf": unixIn(time.Minute)})), "not_yet_valid", "token not yet valid")
		wantOK(t, "nbf in 10s, within leeway", get(t, "/", tok(map[string]any{"nbf": unixIn(10 * time.Second)})), "ok alice")
		wantOK(t, "nbf in the past", get(t, "/", tok(map[string]any{"nbf": unixIn(-time.Hour)})), "ok alice")
		wantInvalid(t, "iat in a minute", get(t, "/", tok(map[string]any{"iat": unixIn(time.Minute)})), "not_yet_valid", "token not yet valid")
		wantOK(t, "iat in 10s, within leeway", get(t, "/", tok(map[string]any{"iat": unixIn(10 * time.Second)})), "ok alice")
		wantOK(t, "fractional exp", get(t, "/", tok(map[string]any{"exp": float64(unixIn(time.Hour)) + 0.5})), "ok alice")
		wantOK(t, "no iat", get(t, "/", tok(map[string]any{"iat": nil})), "ok alice")
		for _, c := range []string{"exp", "nbf", "iat"} {
			v := fmt.Sprint(unixIn(time.Hour))
			if c != "exp" {
				v = fmt.Sprint(unixIn(-time.Hour))
			}
			wantInvalid(t, c+" as a string", get(t, "/", tok(map[string]any{c: v})), "bad_claims", "claim has wrong type")
		}
		wantInvalid(t, "exp as a bool", get(t, "/", tok(map[string]any{"exp": true})), "bad_claims", "claim has wrong type")
	})

	t.Run("allow_missing_exp", func(t *testing.T) {
		startCaddy(t, guardConfig(lines("secret "+hmac64, "allow_missing_exp")))
		wantOK(t, "no exp", get(t, "/", tok(map[string]any{"exp": nil})), "ok alice")
		wantInvalid(t, "expired exp still refused", get(t, "/", tok(map[string]any{"exp": unixIn(-time.Hour)})), "expired", "token expired")
		wantInvalid(t, "nbf still honoured", get(t, "/", tok(map[string]any{"exp": nil, "nbf": unixIn(time.Hour)})), "not_yet_valid", "token not yet valid")
	})

	t.Run("leeway 0s", func(t *testing.T) {
		startCaddy(t, guardConfig(lines("secret "+hmac64, "leeway 0s")))
		wantInvalid(t, "exp 10s ago", get(t, "/", tok(map[string]any{"exp": unixIn(-10 * time.Second)})), "expired", "token expired")
		wantInvalid(t, "nbf in 10s", get(t, "/", tok(map[string]any{"nbf": unixIn(10 * time.Second)})), "not_yet_valid", "token not yet valid")
		wantInvalid(t, "iat in 10s", get(t, "/", tok(map[string]any{"iat": unixIn(10 * time.Second)})), "not_yet_valid", "token not yet valid")
	})

	t.Run("leeway 2m", func(t *testing.T) {
		startCaddy(t, guardConfig(lines("secret "+hmac64, "leeway 2m")))
		wantOK(t, "exp 90s ago", get(t, "/", tok(map[string]any{"exp": unixIn(-90 * time.Second), "iat": unixIn(-time.Hour)})), "ok alice")
		wantOK(t, "nbf in 90s", get(t, "/", tok(map[string]any{"nbf": unixIn(90 * time.Second)})), "ok alice")
		wantInvalid(t, "exp 3m ago", get(t, "/", tok(map[string]any{"exp": unixIn(-3 * time.Minute)})), "expired", "token expired")
	})

	t.Run("max_lifetime", func(t *testing.T) {
		startCaddy(t, guardConfig(lines("secret "+hmac64, "max_lifetime 1h")))
		wantOK(t, "exp in 50m", get(t, "/", tok(map[string]any{"exp": unixIn(50 * time.Minute)})), "ok alice")
		wantInvalid(t, "exp in 2h", get(t, "/", tok(map[string]any{"exp": unixIn(2 * time.Hour)})), "bad_claims", "lifetime too long")
		wantInvalid(t, "exp in 10 years", get(t, "/", tok(map[string]any{"exp": unixIn(24 * 3650 * time.Hour)})), "bad_claims", "lifetime too long")
	})
}

// TestIntegrationIssuerAudience: several accepted issuers and audiences,
// string and array aud.
func TestIntegrationIssuerAudience(t *testing.T) {
	startCaddy(t, guardConfig(lines("secret "+hmac64, "issuer https://a.example https://b.example", "audience api1 api2")))
	tok := func(extra map[string]any) reqOpt { return bearer(hs(t, "alice", extra)) }
	good := func(extra map[string]any) map[string]any {
		m := map[string]any{"iss": "https://a.example", "aud": "api1"}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	wantOK(t, "first issuer, string aud", get(t, "/", tok(good(nil))), "ok alice")
	wantOK(t, "second issuer", get(t, "/", tok(good(map[string]any{"iss": "https://b.example"}))), "ok alice")
	wantOK(t, "second audience", get(t, "/", tok(good(map[string]any{"aud": "api2"}))), "ok alice")
	wantOK(t, "array aud holding one", get(t, "/", tok(good(map[string]any{"aud": []string{"other", "api2"}}))), "ok alice")

	wantInvalid(t, "other issuer", get(t, "/", tok(good(map[string]any{"iss": "https://c.example"}))), "bad_claims", "issuer not accepted")
	wantInvalid(t, "issuer prefix", get(t, "/", tok(good(map[string]any{"iss": "https://a.example.evil"}))), "bad_claims", "issuer not accepted")
	wantInvalid(t, "no issuer", get(t, "/", tok(good(map[string]any{"iss": nil}))), "bad_claims", "issuer not accepted")
	wantInvalid(t, "other audience", get(t, "/", tok(good(map[string]any{"aud": "api3"}))), "bad_claims", "audience not accepted")
	wantInvalid(t, "array aud holding none", get(t, "/", tok(good(map[string]any{"aud": []string{"x", "y"}}))), "bad_claims", "audience not accepted")
	wantInvalid(t, "no audience", get(t, "/", tok(good(map[string]any{"aud": nil}))), "bad_claims", "audience not accepted")
	wantInvalidReason(t, "aud a number", get(t, "/", tok(good(map[string]any{"aud": 42}))), "bad_claims")
	wantInvalidReason(t, "aud array of numbers", get(t, "/", tok(good(map[string]any{"aud": []int{1}}))), "bad_claims")
	wantInvalidReason(t, "iss a number", get(t, "/", tok(good(map[string]any{"iss": 42}))), "bad_claims")
}

// TestIntegrationRequire: claim rules — alternatives, dotted paths, arrays,
// scope/scp splitting, numbers and booleans, presence, all rules at once.
func TestIntegrationRequire(t *testing.T) {
	t.Run("all rules must hold", func(t *testing.T) {
		startCaddy(t, guardConfig(lines(
			"secret "+hmac64,
			"require role admin editor",
			"require realm_access.roles ops",
			`require "https://example.com/tenant" acme`,
			"require scope write",
			"require level 3",
			"require email_verified true",
			"require team",
		)))
		base := func(mut map[string]any) reqOpt {
			c := map[string]any{
				"role":                       "editor",
				"realm_access":               map[string]any{"roles": []string{"user", "ops"}},
				"https://example.com/tenant": "acme",
				"scope":                      "read write",
				"level":                      3,
				"email_verified":             true,
				"team":                       "blue",
			}
			for k, v := range mut {
				c[k] = v
			}
			return bearer(hs(t, "alice", c))
		}
		wantOK(t, "every rule holds", get(t, "/", base(nil)), "ok alice")
		wantOK(t, "role, other accepted value", get(t, "/", base(map[string]any{"role": "admin"})), "ok alice")
		wantOK(t, "role as array holding a value", get(t, "/", base(map[string]any{"role": []string{"user", "admin"}})), "ok alice")
		wantOK(t, "scope holding only write", get(t, "/", base(map[string]any{"scope": "write"})), "ok alice")
		wantOK(t, "scope as array", get(t, "/", base(map[string]any{"scope": []string{"read", "write"}})), "ok alice")
		wantOK(t, "presence rule with an empty value", get(t, "/", base(map[string]any{"team": ""})), "ok alice")

		for label, mut := range map[string]map[string]any{
			"role user":                     {"role": "user"},
			"role missing":                  {"role": nil},
			"role string with spaces":       {"role": "admin editor"},
			"role array without a value":    {"role": []string{"user"}},
			"role case differs":             {"role": "Admin"},
			"nested roles without ops":      {"realm_access": map[string]any{"roles": []string{"user"}}},
			"nested object missing":         {"realm_access": nil},
			"nested object not an object":   {"realm_access": "ops"},
			"dotted claim name other value": {"https://example.com/tenant": "evil"},
			"scope without write":           {"scope": "read writer"},
			"scope glued":                   {"scope": "readwrite"},
			"level 4":                       {"level": 4},
			"email_verified false":          {"email_verified": false},
			"team missing":                  {"team": nil},
		} {
			wantForbidden(t, label, get(t, "/", base(mut)))
		}
	})

	t.Run("paths, scp and dotted names", func(t *testing.T) {
		startCaddy(t, guardConfig(lines(
			"secret "+hmac64,
			"require scp write",
			"require https://example.com/roles admin",
			"require org.team.name blue",
		)))
		base := func(mut map[string]any) reqOpt {
			c := map[string]any{
				"scp":                       "read write",
				"https://example.com/roles": []string{"user", "admin"},
				"org":                       map[string]any{"team": map[string]any{"name": "blue"}},
			}
			for k, v := range mut {
				c[k] = v
			}
			return bearer(hs(t, "alice", c))
		}
		wantOK(t, "every rule holds", get(t, "/", base(nil)), "ok alice")
		wantOK(t, "scp as array", get(t, "/", base(map[string]any{"scp": []string{"write"}})), "ok alice")
		wantForbidden(t, "scp without write", get(t, "/", base(map[string]any{"scp": "read"})))
		wantForbidden(t, "dotted claim without admin", get(t, "/", base(map[string]any{"https://example.com/roles": []string{"user"}})))
		wantForbidden(t, "nested other value", get(t, "/", base(map[string]any{"org": map[string]any{"team": map[string]any{"name": "red"}}})))
		wantForbidden(t, "nested path cut short", get(t, "/", base(map[string]any{"org": map[string]any{"team": "blue"}})))
	})

	t.Run("numbers compare by JSON text", func(t *testing.T) {
		startCaddy(t, guardConfig(lines("secret "+hmac64, "require level 3 2.5", "require active false")))
		tok := func(level, active any) reqOpt {
			return bearer(hs(t, "alice", map[string]any{"level": level, "active": active}))
		}
		wantOK(t, "level 3, active false", get(t, "/", tok(3, false)), "ok alice")
		wantOK(t, "level 2.5", get(t, "/", tok(2.5, false)), "ok alice")
		wantOK(t, "level as string 3", get(t, "/", tok("3", false)), "ok alice")
		wantForbidden(t, "level 30", get(t, "/", tok(30, false)))
		wantForbidden(t, "active true", get(t, "/", tok(3, true)))
	})
}
