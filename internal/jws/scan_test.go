package jws

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestScanObject(t *testing.T) {
	for in, ok := range map[string]bool{
		`{}`:                                  true,
		` {"a":1} `:                           true,
		`{"a":[1,{"b":null}],"c":"\u00e9\n"}`: true,
		`{"a":1,"a":2}`:                       false, // duplicate
		`{"a":1,"\u0061":2}`:                  false, // duplicate, spelt with an escape
		`{"a":1}x`:                            false,
		`{"a":01}`:                            false,
		`{"a":"\x"}`:                          false,
		"{\"a\":\"\x01\"}":                    false,
		`{"a":tru}`:                           false,
		`[1]`:                                 false,
		`{"a":1,}`:                            false,
		strings.Repeat(`{"a":`, maxJSONDepth) + "1" + strings.Repeat("}", maxJSONDepth):     true,
		strings.Repeat(`{"a":`, maxJSONDepth+1) + "1" + strings.Repeat("}", maxJSONDepth+1): false,
	} {
		var members [maxMembers]jsonMember
		if _, _, err := scanObject([]byte(in), &members); (err == nil) != ok {
			t.Errorf("scanObject(%q) = %v, want ok=%v", in, err, ok)
		}
	}
}

// FuzzScanObject holds the hand-written scanner to encoding/json: what it
// accepts is a valid JSON object with the same members encoding/json
// finds, and a valid, shallow, UTF-8 object without duplicates is
// accepted. go test -fuzz FuzzScanObject runs it long.
func FuzzScanObject(f *testing.F) {
	for _, seed := range []string{`{}`, `{"sub":"a","exp":1e3,"aud":["x"]}`, `{"a":{"b":[true,false,null]}}`, `{"a":"\ud83d\ude00"}`, `{"a":1,"a":2}`, `{"a":-0.5E+2}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var members [maxMembers]jsonMember
		n, _, err := scanObject(data, &members)
		trimmed := bytes.TrimLeft(data, " \t\r\n")
		isObject := len(trimmed) > 0 && trimmed[0] == '{'
		if err == nil {
			if !json.Valid(data) || !isObject {
				t.Fatalf("accepted what is not a JSON object: %q", data)
			}
			if hasLoneSurrogate(data) {
				t.Fatalf("accepted a lone surrogate escape: %q", data)
			}
			var m map[string]json.RawMessage
			if json.Unmarshal(data, &m) != nil || len(m) != n {
				t.Fatalf("members differ from encoding/json's: %q (%d vs %d)", data, n, len(m))
			}
			return
		}
		if json.Valid(data) && utf8.Valid(data) && isObject && bytes.Count(data, []byte("{"))+bytes.Count(data, []byte("[")) < maxJSONDepth {
			var m map[string]json.RawMessage
			if json.Unmarshal(data, &m) == nil && len(m) < maxMembers && !hasDuplicate(data) && !hasLoneSurrogate(data) {
				t.Fatalf("refused a valid object: %q: %v", data, err)
			}
		}
	})
}

// hasLoneSurrogate tells whether a \u escape of a surrogate (D800–DFFF)
// stands anywhere but as a high one followed at once by a low one: what
// encoding/json accepts and repairs into U+FFFD, and the scanner refuses.
func hasLoneSurrogate(data []byte) bool {
	hex4 := func(i int) (rune, bool) {
		if i+6 > len(data) || data[i] != '\\' || data[i+1] != 'u' {
			return 0, false
		}
		v, err := strconv.ParseUint(string(data[i+2:i+6]), 16, 16)
		return rune(v), err == nil
	}
	for i := 0; i < len(data); i++ {
		if data[i] != '\\' {
			continue
		}
		r, ok := hex4(i)
		if !ok {
			i++ // another escape: skip the escaped character (it may be a backslash)
			continue
		}
		switch {
		case r >= 0xdc00 && r <= 0xdfff:
			return true
		case r >= 0xd800 && r <= 0xdbff:
			low, ok := hex4(i + 6)
			if !ok || low < 0xdc00 || low > 0xdfff {
				return true
			}
			i += 11
		default:
			i += 5
		}
	}
	return false
}

// hasDuplicate tells whether a top-level member name repeats, by decoding
// the object's tokens with encoding/json.
func hasDuplicate(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil {
		return false
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		name, _ := tok.(string)
		if seen[name] {
			return true
		}
		seen[name] = true
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return false
		}
	}
	return false
}

func TestDecodeStrict(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{`{}`, true},
		{`{"a":{"b":1,"c":[{"b":1},{"b":2}]},"b":null}`, true},
		{`{"a":{"b":1,"b":2}}`, false},
		{`{"a":{"b":1,"\u0062":2}}`, false},
		{`{"a":[{"x":null,"x":null}]}`, false},
		{`{"a":1,"a":1}`, false},
		{`[1]`, false},
		{`{"a":1`, false},
	} {
		m, err := DecodeStrict([]byte(tc.in))
		if (err == nil) != tc.ok {
			t.Errorf("DecodeStrict(%s): %v, want ok %v", tc.in, err, tc.ok)
		}
		if tc.ok {
			var want map[string]any
			dec := json.NewDecoder(strings.NewReader(tc.in))
			dec.UseNumber()
			_ = dec.Decode(&want)
			if !reflect.DeepEqual(m, want) {
				t.Errorf("DecodeStrict(%s) = %#v, encoding/json gives %#v", tc.in, m, want)
			}
		}
	}
}
