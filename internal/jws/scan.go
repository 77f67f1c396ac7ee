package jws

import (
	"bytes"
	"encoding/json"
	"errors"
	"unicode/utf8"
)

// maxJSONDepth bounds the nesting of a token's header and claims.
const maxJSONDepth = 32

var errJSON = errors.New("invalid JSON")

// maxMembers bounds the top-level members of a token's header or claims.
const maxMembers = 64

// jsonMember is one top-level member of an object: its name, still
// quoted, and its raw value.
type jsonMember struct {
	name, value []byte
	escaped     bool // the name holds escapes
}

// scanObject checks that data is exactly one JSON object (RFC 8259, with
// white space around it), nested at most maxJSONDepth deep, with at most
// maxMembers members and no member name given twice, and fills out with
// its n top-level members. inner counts the members of the objects nested
// in it, whose names it does not compare (decodeScanned does). It
// allocates nothing.
func scanObject(data []byte, out *[maxMembers]jsonMember) (n, inner int, err error) {
	s := jsonScanner{data: data}
	s.space()
	if !s.consume('{') {
		return 0, 0, errJSON
	}
	s.space()
	if s.consume('}') {
		return 0, 0, s.end()
	}
	for {
		s.space()
		start := s.pos
		escaped, ok := s.stringEscaped()
		if !ok || n == maxMembers {
			return 0, 0, errJSON
		}
		name := data[start:s.pos]
		for i := range n {
			if string(out[i].name) == string(name) ||
				(escaped || out[i].escaped) && jsonString(out[i].name) == jsonString(name) {
				return 0, 0, errJSON
			}
		}
		s.space()
		if !s.consume(':') {
			return 0, 0, errJSON
		}
		s.space()
		vstart := s.pos
		if !s.value(1) {
			return 0, 0, errJSON
		}
		out[n] = jsonMember{name, data[vstart:s.pos], escaped}
		n++
		s.space()
		if s.consume('}') {
			return n, s.inner, s.end()
		}
		if !s.consume(',') {
			return 0, 0, errJSON
		}
	}
}

func hasEscape(quoted []byte) bool {
	for _, c := range quoted {
		if c == '\\' {
			return true
		}
	}
	return false
}

// jsonString decodes a quoted JSON string that scanObject accepted.
func jsonString(quoted []byte) string {
	if !hasEscape(quoted) {
		return string(quoted[1 : len(quoted)-1])
	}
	var s string
	_ = json.Unmarshal(quoted, &s)
	return s
}

type jsonScanner struct {
	data  []byte
	pos   int
	inner int // members of nested objects scanned
}

func (s *jsonScanner) end() error {
	s.space()
	if s.pos != len(s.data) {
		return errJSON
	}
	return nil
}

func (s *jsonScanner) space() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

func (s *jsonScanner) consume(c byte) bool {
	if s.pos < len(s.data) && s.data[s.pos] == c {
		s.pos++
		return true
	}
	return false
}

func (s *jsonScanner) literal(word string) bool {
	if len(s.data)-s.pos >= len(word) && string(s.data[s.pos:s.pos+len(word)]) == word {
		s.pos += len(word)
		return true
	}
	return false
}

// value scans one JSON value at nesting depth.
func (s *jsonScanner) value(depth int) bool {
	if s.pos >= len(s.data) {
		return false
	}
	switch c := s.data[s.pos]; {
	case c == '"':
		return s.string()
	case c == '{' || c == '[':
		return depth < maxJSONDepth && s.container(depth+1)
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	default:
		return s.number()
	}
}

// container scans an object or an array whose opening bracket is next.
func (s *jsonScanner) container(depth int) bool {
	closing := byte(']')
	object := s.data[s.pos] == '{'
	if object {
		closing = '}'
	}
	s.pos++
	s.space()
	if s.consume(closing) {
		return true
	}
	for {
		s.space()
		if object {
			if !s.string() {
				return false
			}
			s.inner++
			s.space()
			if !s.consume(':') {
				return false
			}
			s.space()
		}
		if !s.value(depth) {
			return false
		}
		s.space()
		if s.consume(closing) {
			return true
		}
		if !s.consume(',') {
			return false
		}
	}
}

// string scans a quoted string: valid UTF-8, no control characters,
// valid escapes, no lone surrogate.
func (s *jsonScanner) string() bool {
	_, ok := s.stringEscaped()
	return ok
}

// stringEscaped is string, telling also whether the string holds escapes.
func (s *jsonScanner) stringEscaped() (escaped, ok bool) {
	if !s.consume('"') {
		return false, false
	}
	start, wide := s.pos, false
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		s.pos++
		switch {
		case c == '"':
			// RFC 8259 text is UTF-8; encoding/json would turn bad bytes
			// into U+FFFD, so that two names we tell apart became one.
			return escaped, !wide || utf8.Valid(s.data[start:s.pos-1])
		case c >= 0x80:
			wide = true
		case c < 0x20:
			return false, false
		case c == '\\':
			escaped = true
			if s.pos >= len(s.data) {
				return false, false
			}
			e := s.data[s.pos]
			s.pos++
			switch e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if !s.unicodeEscape() {
					return false, false
				}
			default:
				return false, false
			}
		}
	}
	return false, false
}

// unicodeEscape scans the four hex digits after \u, and refuses a lone
// surrogate: a high one (D800–DBFF) must be followed at once by a \u
// escape of a low one (DC00–DFFF), and a low one never stands alone.
// Decoders repair a lone surrogate into U+FFFD, so that "al\ud800ice" and
// "al\udfffice" would both read as one user; refused, they cannot.
func (s *jsonScanner) unicodeEscape() bool {
	r, ok := s.hex4()
	switch {
	case !ok:
		return false
	case r >= 0xdc00 && r <= 0xdfff:
		return false
	case r >= 0xd800 && r <= 0xdbff:
		if !s.literal(`\u`) {
			return false
		}
		low, ok := s.hex4()
		return ok && low >= 0xdc00 && low <= 0xdfff
	}
	return true
}

// hex4 reads four hex digits.
func (s *jsonScanner) hex4() (rune, bool) {
	if len(s.data)-s.pos < 4 {
		return 0, false
	}
	var r rune
	for _, h := range s.data[s.pos : s.pos+4] {
		switch {
		case '0' <= h && h <= '9':
			r = r<<4 | rune(h-'0')
		case 'a' <= h && h <= 'f':
			r = r<<4 | rune(h-'a'+10)
		case 'A' <= h && h <= 'F':
			r = r<<4 | rune(h-'A'+10)
		default:
			return 0, false
		}
	}
	s.pos += 4
	return r, true
}

// number scans -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?
func (s *jsonScanner) number() bool {
	s.consume('-')
	switch {
	case s.consume('0'):
	case s.digit19():
		s.digits()
	default:
		return false
	}
	if s.consume('.') && !s.digits() {
		return false
	}
	if s.consume('e') || s.consume('E') {
		if !s.consume('+') {
			s.consume('-')
		}
		if !s.digits() {
			return false
		}
	}
	return true
}

func (s *jsonScanner) digit19() bool {
	if s.pos < len(s.data) && '1' <= s.data[s.pos] && s.data[s.pos] <= '9' {
		s.pos++
		return true
	}
	return false
}

// digits scans one or more digits.
func (s *jsonScanner) digits() bool {
	start := s.pos
	for s.pos < len(s.data) && '0' <= s.data[s.pos] && s.data[s.pos] <= '9' {
		s.pos++
	}
	return s.pos > start
}

// DecodeStrict decodes a JSON object as encoding/json does, numbers kept
// as json.Number, but refuses a member name given twice in any object,
// however deep (encoding/json would keep the last copy), and what
// scanObject refuses.
func DecodeStrict(data []byte) (map[string]any, error) {
	var members [maxMembers]jsonMember
	_, inner, err := scanObject(data, &members)
	if err != nil {
		return nil, err
	}
	return decodeScanned(data, inner)
}

// decodeScanned decodes an object that scanObject accepted, counting inner
// members in its nested objects. encoding/json keeps one copy of a name
// given twice, so fewer nested members in the result than were scanned
// means a nested object repeated a name.
func decodeScanned(data []byte, inner int) (map[string]any, error) {
	m, err := decodeObject(data)
	if err != nil || countMembers(m)-len(m) != inner {
		return nil, errJSON
	}
	return m, nil
}

// decodeObject decodes a JSON object, numbers kept as json.Number.
func decodeObject(data []byte) (map[string]any, error) {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	err := dec.Decode(&m)
	return m, err
}

// countMembers counts the members of every object in a decoded value.
func countMembers(v any) int {
	n := 0
	switch v := v.(type) {
	case map[string]any:
		n = len(v)
		for _, e := range v {
			n += countMembers(e)
		}
	case []any:
		for _, e := range v {
			n += countMembers(e)
		}
	}
	return n
}
