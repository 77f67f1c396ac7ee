package jws

import (
	"bytes"
	"encoding/json"
	"math"
	"math/big"
	"strings"
	"testing"
	"unicode/utf8"
)

// seedClaims are ordinary claims for the seeds.
const seedClaims = `{"iss":"https://issuer.example","sub":"alice","aud":"api","iat":1750000000,"nbf":1750000000,"exp":1750000600,"jti":"j1"}`

// FuzzParseToken builds a token of fuzzed header, claims and signature
// bytes and holds Parse to encoding/json's reading of them: it
// succeeds for well-formed small objects with a string kid, and what it
// reads of alg, kid, typ, crit, the time claims, iss, aud, sub, jti and
// sid is what encoding/json finds there.
func FuzzParseToken(f *testing.F) {
	for _, seed := range [][3]string{
		{`{"alg":"HS256","typ":"JWT","kid":"k1"}`, seedClaims, "sig"},
		{`{"alg":"HS256","typ":"application/refresh+jwt"}`, `{"exp":-0.5,"nbf":1e3,"iat":"1","sid":"s"}`, "x"},
		{`{"alg":1,"kid":null}`, `{}`, "x"},
		{`{"alg":"ES256","crit":["b64"],"b64":false}`, `{"exp":1750000600.999,"aud":["a",1],"sub":7}`, "x"},
		{`{"k\u0069d":"a\"b"}`, `{"e\u0078p":123456789012345678,"iss":null}`, "x"},
		{`{}`, `{"exp":9223372036854775807,"nbf":-9223372036854775808,"iat":1E400}`, "x"},
		{`{}`, `{"exp":4611686018427387904,"nbf":4611686018427387903.5}`, "x"},
		{`{"a":1,"a":2}`, `{}`, "x"},
		{`{}`, `{"a":[[[[1]]]]} `, "x"},
		{`{}`, `{}`, ""},
		{` {"alg" : "HS256" } `, "\t{ \"sub\" : \"a\" }\n", "x"},
	} {
		f.Add([]byte(seed[0]), []byte(seed[1]), []byte(seed[2]))
	}
	f.Fuzz(func(t *testing.T, header, claims, sig []byte) {
		raw := b64.EncodeToString(header) + "." + b64.EncodeToString(claims) + "." + b64.EncodeToString(sig)
		if _, _, err := SplitCompact(raw); err != nil {
			if len(header) > 0 && len(claims) > 0 && len(sig) > 0 && len(raw) <= MaxTokenBytes {
				t.Fatalf("splitCompact refused a well-formed token %q", raw)
			}
			return
		}
		tok, err := Parse(raw)
		hdr, hdrOK := smallObject(header)
		cl, clOK := smallObject(claims)
		kid, hasKid := hdr["kid"]
		if err != nil {
			if err != ErrMalformed {
				t.Fatalf("Parse: %v, not ErrMalformed", err)
			}
			if hdrOK && clOK && (!hasKid || kid[0] == '"') {
				t.Fatalf("Parse refused header %q claims %q", header, claims)
			}
			return
		}
		if !json.Valid(header) || !json.Valid(claims) {
			t.Fatalf("Parse accepted invalid JSON: header %q claims %q", header, claims)
		}
		if hdr == nil {
			hdr = mustRawObject(t, header)
		}
		if cl == nil {
			cl = mustRawObject(t, claims)
		}
		if !bytes.Equal(tok.Payload, claims) || !bytes.Equal(tok.signature, sig) ||
			string(tok.signingInput) != raw[:strings.LastIndexByte(raw, '.')] {
			t.Fatalf("parts read wrong: %q", raw)
		}
		if want := rawString(hdr["alg"]); tok.Alg != want {
			t.Fatalf("alg %q, want %q (header %q)", tok.Alg, want, header)
		}
		if tok.HasKid != hasKid || tok.Kid != rawString(kid) || (hasKid && kid[0] != '"') {
			t.Fatalf("kid %q (%v), header %q", tok.Kid, tok.HasKid, header)
		}
		typ := rawString(hdr["typ"])
		if wantRefresh := strings.EqualFold(typ, "refresh+jwt") || strings.EqualFold(typ, "application/refresh+jwt"); tok.Refresh != wantRefresh {
			t.Fatalf("refresh %v for typ %q", tok.Refresh, typ)
		}
		_, crit := hdr["crit"]
		_, b64opt := hdr["b64"]
		if (tok.headerErr != nil) != (crit || b64opt) || (tok.headerErr != nil && tok.headerErr != ErrHeader) {
			t.Fatalf("header error %v for header %q", tok.headerErr, header)
		}
		for name, got := range map[string]NumericDate{"exp": tok.Exp, "nbf": tok.Nbf, "iat": tok.Iat} {
			checkNumericDate(t, name, got, cl[name])
		}
		if !bytes.Equal(tok.Iss, cl["iss"]) || !bytes.Equal(tok.Aud, cl["aud"]) {
			t.Fatalf("iss %q aud %q, claims %q", tok.Iss, tok.Aud, claims)
		}
		if tok.Sub != rawString(cl["sub"]) || tok.Jti != rawString(cl["jti"]) || tok.Sid != rawString(cl["sid"]) {
			t.Fatalf("sub %q jti %q sid %q, claims %q", tok.Sub, tok.Jti, tok.Sid, claims)
		}
	})
}

// smallObject decodes a JSON object's members when it is one the scanner
// must accept: UTF-8, a valid object, no name twice, under the depth and
// member limits. ok is false otherwise (members may still be filled).
func smallObject(data []byte) (members map[string]json.RawMessage, ok bool) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if !json.Valid(data) || len(trimmed) == 0 || trimmed[0] != '{' || json.Unmarshal(data, &members) != nil {
		return nil, false
	}
	return members, utf8.Valid(data) && !hasDuplicate(data) && !hasLoneSurrogate(data) && len(members) < maxMembers &&
		bytes.Count(data, []byte("{"))+bytes.Count(data, []byte("[")) < maxJSONDepth
}

func mustRawObject(t *testing.T, data []byte) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil || m == nil {
		t.Fatalf("accepted what is not a JSON object: %q", data)
	}
	return m
}

// rawString is a raw JSON string's text, or "" for anything else.
func rawString(raw json.RawMessage) string {
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// checkNumericDate holds a time claim as read to the raw JSON: absent, or
// not a number (bad), or beyond ±2^62 seconds (bad), or else the floor of
// the number of seconds, give or take float64 rounding.
func checkNumericDate(t *testing.T, name string, got NumericDate, raw json.RawMessage) {
	t.Helper()
	if raw == nil {
		if got.Set || got.Bad {
			t.Fatalf("%s absent but read as %+v", name, got)
		}
		return
	}
	if !got.Set {
		t.Fatalf("%s %s not read", name, raw)
	}
	if c := raw[0]; c != '-' && (c < '0' || c > '9') {
		if !got.Bad {
			t.Fatalf("%s %s is not a number, read as %v", name, raw, got.Time)
		}
		return
	}
	x, _, err := big.ParseFloat(string(raw), 10, 256, big.ToNearestEven)
	if err != nil || x.IsInf() {
		if !got.Bad {
			t.Fatalf("%s %s is out of range, read as %v", name, raw, got.Time)
		}
		return
	}
	abs, _ := new(big.Float).Abs(x).Float64()
	switch {
	case abs > math.Ldexp(1, 62)*(1+1e-12):
		if !got.Bad {
			t.Fatalf("%s %s is beyond 2^62 s, read as %v", name, raw, got.Time)
		}
	case abs < math.Ldexp(1, 62)*(1-1e-12):
		if got.Bad {
			t.Fatalf("%s %s read as bad", name, raw)
		}
		floor, acc := x.Int(nil)
		if acc == big.Above { // a negative number with a fraction: trunc is above floor
			floor.Sub(floor, big.NewInt(1))
		}
		if diff := math.Abs(float64(got.Time.Unix() - floor.Int64())); diff > 1+abs*math.Ldexp(1, -52) {
			t.Fatalf("%s %s read as %d", name, raw, got.Time.Unix())
		}
	}
}
