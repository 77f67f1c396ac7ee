package caddyjwt

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
)

// claimsOf decodes claims as the parser does, numbers kept as json.Number.
func claimsOf(t *testing.T, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewBufferString(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestClaimRules(t *testing.T) {
	claims := claimsOf(t, `{
		"sub": "alice",
		"role": "admin",
		"groups": ["dev", "ops", 7, true, {"x": 1}],
		"scope": "read:a write:b",
		"scp": ["read:a"],
		"roles": "a b",
		"level": 3,
		"big": 12345678901234567890,
		"ratio": 1.50,
		"active": true,
		"nothing": null,
		"realm_access": {"roles": ["user", "auditor"], "deep": {"flag": false}},
		"https://example.com/roles": ["editor"]
	}`)
	for _, tc := range []struct {
		claim  string
		values []string
		holds  bool
	}{
		{"role", []string{"admin"}, true},
		{"role", []string{"user", "admin"}, true},
		{"role", []string{"Admin"}, false},
		{"groups", []string{"ops"}, true},
		{"groups", []string{"7"}, true},
		{"groups", []string{"true"}, true},
		{"groups", []string{`{"x":1}`}, false},
		{"scope", []string{"write:b"}, true},
		{"scope", []string{"read:a write:b"}, false},
		{"scp", []string{"read:a"}, true},
		{"roles", []string{"a"}, false}, // only scope and scp are split
		{"roles", []string{"a b"}, true},
		{"level", []string{"3"}, true},
		{"level", []string{"3.0"}, false},
		{"big", []string{"12345678901234567890"}, true},
		{"ratio", []string{"1.50"}, true},
		{"active", []string{"true"}, true},
		{"active", []string{"false"}, false},
		{"realm_access.roles", []string{"auditor"}, true},
		{"realm_access.deep.flag", []string{"false"}, true},
		{"realm_access.missing", []string{"x"}, false},
		{"role.sub", []string{"x"}, false},
		{"https://example.com/roles", []string{"editor"}, true},
		{"sub", nil, true},
		{"realm_access", nil, true},
		{"missing", nil, false},
		{"nothing", nil, false},
		{"realm_access", []string{"x"}, false},
	} {
		if got := (ClaimRule{Claim: tc.claim, Values: tc.values}).holds(claims); got != tc.holds {
			t.Errorf("require %s %v: %v, want %v", tc.claim, tc.values, got, tc.holds)
		}
	}
}

func TestClaimText(t *testing.T) {
	claims := claimsOf(t, `{"s":"x y","n":42,"f":1.50,"b":false,"a":["r",1,{"k":"v"}],"o":{"k":["v"]},"z":null}`)
	for name, want := range map[string]string{
		"s": "x y", "n": "42", "f": "1.50", "b": "false",
		"a": `r,1,{"k":"v"}`, "o": `{"k":["v"]}`, "z": "",
	} {
		if got := claimText(claims[name]); got != want {
			t.Errorf("claimText(%s) = %q, want %q", name, got, want)
		}
	}
}

func TestSameHeaderName(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"X-User", "x-user", true},
		{"X_User", "X-User", true},
		{"x_user", "X-USER", true},
		{"X-Users", "X-User", false},
		{"X-Uses", "X-User", false},
	} {
		if got := sameHeaderName(tc.a, tc.b); got != tc.same {
			t.Errorf("sameHeaderName(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}

func TestStripIdentityHeaders(t *testing.T) {
	h := &Handler{ClaimHeaders: []ClaimHeader{{Claim: "sub", Header: "X-User"}, {Claim: "email", Header: "X-Email"}}}
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.Header = http.Header{
		"X-User":     {"evil"},
		"X_user":     {"evil"},
		"x-email":    {"evil"},
		"X-Other":    {"kept"},
		"Connection": {"keep-alive, X-User", "x_email"},
	}
	h.stripIdentityHeaders(r)
	want := http.Header{"X-Other": {"kept"}, "Connection": {"keep-alive", ""}}
	if len(r.Header) != len(want) || r.Header.Get("X-Other") != "kept" ||
		r.Header["Connection"][0] != "keep-alive" || r.Header["Connection"][1] != "" {
		t.Errorf("headers after strip: %v, want %v", r.Header, want)
	}
}
