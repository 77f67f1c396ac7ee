package caddyjwt

import (
	"net/http"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzIdentity holds the point of the identity rules: for any token the
// guard accepts, every consumer reads the same identity — the
// {http.auth.user.id} placeholder (which Caddy's access log shows as
// user_id), {http.auth.user.sub}, and the claim_header sent upstream —
// and that text is the sub claim decoded exactly, never repaired, so two
// tokens whose sub differ never yield the same identity. A claim of any
// JSON type reads the same to its placeholder and its header.
func FuzzIdentity(f *testing.F) {
	fixClock(f)
	h := mustProvision(f, "jwt_auth {\n secret "+testSecret+"\n claim_header sub X-User\n claim_header n X-N\n}")
	for _, seed := range [][3]string{
		{"alice", "al\\u0069ce", `12345678901234567890`},
		{"al\\ud800ice", "al\\udfffice", `1e21`},
		{"al\xffice", "al\\ufffdice", `"x"`},
		{"\\ud83d\\ude00", "\xf0\x9f\x98\x80", `[1,"a",true]`},
		{"a\\u0000b", "a\\nb", `{"k":[null]}`},
		{"", "\\u00e9", `-0.0`},
	} {
		f.Add([]byte(seed[0]), []byte(seed[1]), []byte(seed[2]))
	}
	f.Fuzz(func(t *testing.T, sub1, sub2, n []byte) {
		id1, ok1 := fuzzIdentityOf(t, h, sub1, n)
		id2, ok2 := fuzzIdentityOf(t, h, sub2, n)
		if ok1 && ok2 && id1 == id2 {
			d1, _ := exactJSONString(sub1)
			d2, _ := exactJSONString(sub2)
			if d1 != d2 {
				t.Fatalf("subs %q and %q read as one identity %q", sub1, sub2, id1)
			}
		}
	})
}

// fuzzIdentityOf sends a token whose sub is the JSON string body sub and
// whose claim n is the JSON text n; when the guard accepts it, it checks
// what each consumer read and returns the identity.
func fuzzIdentityOf(t *testing.T, h *Handler, sub, n []byte) (string, bool) {
	t.Helper()
	payload := `{"sub":"` + string(sub) + `","n":` + string(n) + `,"exp":` + "1750000600" + `}`
	raw := b64.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + b64.EncodeToString([]byte(payload))
	sig, err := jwt.SigningMethodHS256.Sign(raw, []byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	res := serve(t, h, bearer(raw+"."+b64.EncodeToString(sig)))
	if res.status != 0 {
		if res.status != http.StatusUnauthorized {
			t.Fatalf("refused with %d", res.status)
		}
		return "", false
	}
	want, exact := exactJSONString(sub)
	if !exact || want == "" {
		t.Fatalf("accepted sub %q, which is not an exact, non-empty JSON string", sub)
	}
	id, _ := res.repl.GetString("http.auth.user.id")
	subText, _ := res.repl.GetString("http.auth.user.sub")
	if id != want || subText != want {
		t.Fatalf("sub %q: user.id %q, user.sub %q, want %q", sub, id, subText, want)
	}
	if got := res.next.Header.Get("X-User"); got != want && !(got == "" && hasControl(want)) {
		t.Fatalf("sub %q: header %q, placeholder %q", sub, got, want)
	}
	nText, _ := res.repl.GetString("http.auth.user.n")
	if got := res.next.Header.Get("X-N"); got != nText && !(got == "" && hasControl(nText)) {
		t.Fatalf("claim %s: header %q, placeholder %q", n, got, nText)
	}
	return id, true
}

// exactJSONString decodes the body of a JSON string (what stands between
// the quotes) as RFC 8259 defines it, and tells whether it is exact: valid
// UTF-8, valid escapes, and surrogates only in pairs — what can be decoded
// without repairing anything.
func exactJSONString(body []byte) (string, bool) {
	var out []rune
	for i := 0; i < len(body); {
		c := body[i]
		switch {
		case c == '"' || c < 0x20:
			return "", false
		case c == '\\':
			if i+1 >= len(body) {
				return "", false
			}
			e := body[i+1]
			i += 2
			if simple, ok := map[byte]rune{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}[e]; ok {
				out = append(out, simple)
				continue
			}
			if e != 'u' {
				return "", false
			}
			r, ok := hexRune(body, i)
			if !ok {
				return "", false
			}
			i += 4
			if utf16.IsSurrogate(r) {
				if r >= 0xdc00 || i+6 > len(body) || body[i] != '\\' || body[i+1] != 'u' {
					return "", false
				}
				low, ok := hexRune(body, i+2)
				if !ok || low < 0xdc00 || low > 0xdfff {
					return "", false
				}
				r = utf16.DecodeRune(r, low)
				i += 6
			}
			out = append(out, r)
		default:
			r, size := utf8.DecodeRune(body[i:])
			if r == utf8.RuneError && size <= 1 {
				return "", false
			}
			out = append(out, r)
			i += size
		}
	}
	return string(out), true
}

// hexRune reads four hex digits at body[i:].
func hexRune(body []byte, i int) (rune, bool) {
	if i+4 > len(body) {
		return 0, false
	}
	var r rune
	for _, h := range body[i : i+4] {
		var d byte
		switch {
		case '0' <= h && h <= '9':
			d = h - '0'
		case 'a' <= h && h <= 'f':
			d = h - 'a' + 10
		case 'A' <= h && h <= 'F':
			d = h - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	return r, true
}
