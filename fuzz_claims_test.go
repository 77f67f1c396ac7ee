package caddyjwt

// Fuzz targets for what reads untrusted or hand-written input: tokens and
// where they are found, the Caddyfile, claim rules, the login return URL
// and the users file. `go test -run '^$' -fuzz '^FuzzX$' .` runs one long;
// a failing input lands in testdata/fuzz/FuzzX and stays as a seed.

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/caddyjwt/caddyjwt/internal/jws"
	"go.uber.org/zap"
)

// FuzzClaims decodes fuzzed JSON claims as the guard does and holds the
// claim functions to an oracle of the spec's Claim rules written over the
// raw JSON: lookupClaim (a whole top-level name first, else a dotted path
// through objects), scalarText, claimText (strings as they are, numbers
// by their JSON text, arrays joined with commas, objects as JSON),
// ClaimRule.holds (any element of an array; scope and scp strings split
// on spaces; no values: present and not null), the placeholder of a
// top-level claim, and the claim header value, which is never written
// with a control character.
func FuzzClaims(f *testing.F) {
	claims := `{"sub":"alice","role":"admin","groups":["dev","ops",7,true,{"x":1},null,[1]],"scope":"read:a  write:b",` +
		`"scp":["read:a"],"level":3,"big":12345678901234567890,"ratio":1.50,"e":-1E+2,"active":true,"nothing":null,` +
		`"realm_access":{"roles":["user","auditor"],"deep":{"flag":false}},"https://example.com/roles":["editor"],` +
		`"a.b":"top","a":{"b":"nested"},"nl":"x\ny","tab":"x\ty","del":"x\u007fy","arr":["ok","x\r"],"obj":{"k":"\n"},"u":"\u00e9\u2028<>&"}`
	for _, seed := range [][3]string{
		{claims, "role", "admin"},
		{claims, "groups", "7\ntrue\n{\"x\":1}"},
		{claims, "scope", "write:b"},
		{claims, "scope", "read:a  write:b"},
		{claims, "scp", "read:a"},
		{claims, "level", "3.0"},
		{claims, "big", "12345678901234567890"},
		{claims, "ratio", "1.50"},
		{claims, "e", "-1E+2"},
		{claims, "active", "true"},
		{claims, "nothing", ""},
		{claims, "realm_access.roles", "auditor"},
		{claims, "realm_access.deep.flag", "false"},
		{claims, "realm_access", ""},
		{claims, "realm_access", `{"deep":{"flag":false},"roles":["user","auditor"]}`},
		{claims, "role.sub", "x"},
		{claims, "https://example.com/roles", "editor"},
		{claims, "a.b", "nested"},
		{claims, "nl", ""},
		{claims, "tab", "x\ty"},
		{claims, "del", ""},
		{claims, "arr", ""},
		{claims, "obj", ""},
		{claims, "u", ""},
		{claims, "missing", ""},
		{claims, "", ""},
		{`{"scope":"a\tb\u00a0c d"}`, "scope", "b"},
		{`{"":{"":1}}`, ".", "1"},
	} {
		f.Add([]byte(seed[0]), seed[1], seed[2])
	}
	h := &Handler{logger: zap.NewNop()}
	f.Fuzz(func(t *testing.T, data []byte, claim, values string) {
		if !json.Valid(data) || bytes.TrimLeft(data, " \t\r\n")[0] != '{' {
			return
		}
		if _, err := jws.DecodeStrict(data); err != nil {
			return // a name given twice, a lone surrogate: the guard refuses such a token before any rule reads it
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var claims map[string]any
		if err := dec.Decode(&claims); err != nil {
			t.Fatal(err)
		}
		raw, found := rawLookup(data, claim)

		v, ok := lookupClaim(claims, claim)
		if ok != found || (ok && !reflect.DeepEqual(v, decodeNumbers(t, raw))) {
			t.Fatalf("lookupClaim(%q) = %#v, %v; the JSON has %s, %v", claim, v, ok, raw, found)
		}
		if !found {
			raw = json.RawMessage("null")
		}
		if s, scalar := scalarText(v); s != rawScalar(raw) || scalar != isRawScalar(raw) {
			t.Fatalf("scalarText(%s) = %q, %v", raw, s, scalar)
		}
		text := claimText(v)
		if want := rawClaimText(t, raw); text != want {
			t.Fatalf("claimText(%s) = %q, want %q", raw, text, want)
		}

		var vals []string
		if values != "" {
			vals = strings.Split(values, "\n")
		}
		rule := ClaimRule{Claim: claim, Values: vals}
		if got, want := rule.holds(claims), holdsOracle(raw, claim, vals); got != want {
			t.Fatalf("require %q %q on %s: %v, want %v", claim, vals, raw, got, want)
		}

		id := &identity{payload: data}
		header := h.claimHeaderValue(id, ClaimHeader{Claim: claim, Header: "X-Claim"})
		if want := text; header != want && !(header == "" && controlOracle(text)) {
			t.Fatalf("claim header from %s = %q, want %q or nothing", raw, header, want)
		}
		if controlOracle(header) {
			t.Fatalf("claim header value with a control character: %q", header)
		}
		for _, s := range []string{claim, values, text} {
			if hasControl(s) != controlOracle(s) {
				t.Fatalf("hasControl(%q) = %v", s, hasControl(s))
			}
		}
		if topRaw, top := claims[claim]; top && claim != "id" {
			if p, ok := id.placeholder("http.auth.user." + claim); !ok || p != claimText(topRaw) {
				t.Fatalf("placeholder %q = %v, %v", claim, p, ok)
			}
		}
	})
}

// rawLookup finds a claim in the raw JSON: the whole name at the top
// level, else each dot-separated part in turn through objects.
func rawLookup(data []byte, name string) (json.RawMessage, bool) {
	var top map[string]json.RawMessage
	if json.Unmarshal(data, &top) != nil {
		return nil, false
	}
	if v, ok := top[name]; ok {
		return v, true
	}
	cur := json.RawMessage(bytes.TrimSpace(data))
	for part := range strings.SplitSeq(name, ".") {
		var obj map[string]json.RawMessage
		if len(cur) == 0 || cur[0] != '{' || json.Unmarshal(cur, &obj) != nil {
			return nil, false
		}
		next, ok := obj[part]
		if !ok {
			return nil, false
		}
		cur = next
	}
	return cur, true
}

func decodeNumbers(t *testing.T, raw json.RawMessage) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decoding %s: %v", raw, err)
	}
	return v
}

// isRawScalar tells whether a raw JSON value is a string, number or boolean.
func isRawScalar(raw json.RawMessage) bool {
	return raw[0] != '{' && raw[0] != '[' && raw[0] != 'n'
}

// rawScalar is a scalar's text: a string's value, else its JSON text.
func rawScalar(raw json.RawMessage) string {
	switch {
	case !isRawScalar(raw):
		return ""
	case raw[0] == '"':
		var s string
		_ = json.Unmarshal(raw, &s)
		return s
	}
	return string(raw)
}

// rawClaimText is what the spec says a claim reads as.
func rawClaimText(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	switch raw[0] {
	case '[':
		var elems []json.RawMessage
		_ = json.Unmarshal(raw, &elems)
		parts := make([]string, len(elems))
		for i, e := range elems {
			parts[i] = rawClaimText(t, e)
		}
		return strings.Join(parts, ",")
	case '{':
		b, err := json.Marshal(decodeNumbers(t, raw))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	return rawScalar(raw)
}

// holdsOracle is the spec's Claim rules over the raw JSON.
func holdsOracle(raw json.RawMessage, claim string, values []string) bool {
	if raw[0] == 'n' {
		return false
	}
	if len(values) == 0 {
		return true
	}
	var texts []string
	switch {
	case raw[0] == '[':
		var elems []json.RawMessage
		_ = json.Unmarshal(raw, &elems)
		for _, e := range elems {
			if isRawScalar(e) {
				texts = append(texts, rawScalar(e))
			}
		}
	case raw[0] == '"' && (claim == "scope" || claim == "scp"):
		for part := range strings.SplitSeq(rawScalar(raw), " ") {
			if part != "" {
				texts = append(texts, part)
			}
		}
	case isRawScalar(raw):
		texts = []string{rawScalar(raw)}
	}
	return slices.ContainsFunc(texts, func(s string) bool { return slices.Contains(values, s) })
}

// controlOracle tells whether s holds an ASCII control character (C0 or
// DEL), which must never reach a header.
func controlOracle(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}
