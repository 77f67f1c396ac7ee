package caddyjwt

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"
)

// usersPollInterval is how often the users file is checked for changes.
const usersPollInterval = 2 * time.Second

// bcryptMaxPassword is the longest password bcrypt reads; it ignores the
// rest, so longer passwords are refused rather than truncated.
const bcryptMaxPassword = 72

// User is an account that may log in.
type User struct {
	// Name is the user name; issued tokens carry it as sub.
	Name string `json:"name,omitempty"`

	// Password is the password's hash, bcrypt ($2a$, $2b$, $2y$) or
	// argon2id ($argon2id$), as `caddy hash-password` makes it.
	Password string `json:"password,omitempty"`

	// Claims are added to the user's tokens. They never override the
	// registered claims (iss, sub, aud, iat, nbf, exp, jti, sid).
	Claims map[string]any `json:"claims,omitempty"`

	// Disabled users cannot log in.
	Disabled bool `json:"disabled,omitempty"`

	// TOTP is the user's second factor: a base32 secret (at least 128
	// bits, as `caddy jwt totp` makes it) of RFC 6238 codes (SHA-1, 6
	// digits, 30 s). With it, a login needs a code after the password,
	// and its tokens carry amr ["pwd","otp"]. Default: none (amr ["pwd"]).
	TOTP string `json:"totp,omitempty"`
}

// account is a user ready for password checks.
type account struct {
	hash     []byte
	comparer caddyauth.Comparer
	bcrypt   bool
	claims   map[string]any
	disabled bool
	totp     string // the base32 TOTP secret; "" for none
}

// maxUserName is the longest user name, in bytes.
const maxUserName = 256

// checkUserName refuses a user name that two readers could read as two
// names, or that could pass for another: invalid UTF-8, a control
// character (C0, DEL, C1), U+FFFD (what a JSON decoder makes of a bad byte
// or a lone surrogate escape, so a name holding it may not be the name
// written), or more than maxUserName bytes. The empty name is left to the
// callers.
func checkUserName(name string) error {
	if len(name) > maxUserName {
		return fmt.Errorf("longer than %d bytes", maxUserName)
	}
	if !utf8.ValidString(name) {
		return errors.New("not valid UTF-8")
	}
	for _, r := range name {
		switch {
		case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
			return fmt.Errorf("holds the control character %U", r)
		case r == utf8.RuneError:
			return errors.New("holds U+FFFD (a bad byte or escape, decoded)")
		}
	}
	return nil
}

// quoteUserName quotes a user name for an error or a log line: escaped,
// and cut to 64 bytes.
func quoteUserName(name string) string {
	if len(name) > 64 {
		return strconv.Quote(name[:64]) + "..."
	}
	return strconv.Quote(name)
}

func newAccount(u User) (*account, error) {
	if err := checkUserName(u.Name); err != nil {
		return nil, fmt.Errorf("user %s: bad name: %w", quoteUserName(u.Name), err)
	}
	a := &account{hash: []byte(u.Password), claims: u.Claims, disabled: u.Disabled}
	switch {
	case strings.HasPrefix(u.Password, "$2a$"), strings.HasPrefix(u.Password, "$2b$"), strings.HasPrefix(u.Password, "$2y$"):
		if _, err := bcrypt.Cost(a.hash); err != nil {
			return nil, fmt.Errorf("user %s: bad bcrypt hash: %w", quoteUserName(u.Name), err)
		}
		a.comparer, a.bcrypt = caddyauth.BcryptHash{}, true
	case strings.HasPrefix(u.Password, "$argon2id$"):
		if _, _, err := caddyauth.DecodeHash(a.hash); err != nil {
			return nil, fmt.Errorf("user %s: bad argon2id hash: %w", quoteUserName(u.Name), err)
		}
		a.comparer = caddyauth.Argon2idHash{}
	default:
		return nil, fmt.Errorf("user %s: the password must be a bcrypt or argon2id hash (caddy hash-password)", quoteUserName(u.Name))
	}
	if u.TOTP != "" {
		secret, err := parseTOTPSecret(u.TOTP)
		if err != nil {
			return nil, fmt.Errorf("user %s: bad totp secret: %w", quoteUserName(u.Name), err)
		}
		a.totp = secret
	}
	return a, nil
}

// decoyFor makes an account with a hash of random text, with the same
// algorithm and cost as a, so that an unknown user costs the same work as a
// known one. Caddy's FakeHash is used when its cost is the same.
func decoyFor(a *account) (*account, error) {
	secret := []byte(rand.Text())
	if a.bcrypt {
		fake := caddyauth.BcryptHash{}.FakeHash()
		cost, _ := bcrypt.Cost(a.hash)
		if fakeCost, _ := bcrypt.Cost(fake); fakeCost == cost {
			return &account{hash: fake, comparer: a.comparer, bcrypt: true}, nil
		}
		hash, err := bcrypt.GenerateFromPassword(secret, cost)
		return &account{hash: hash, comparer: a.comparer, bcrypt: true}, err
	}
	params, _, err := caddyauth.DecodeHash(a.hash)
	if err != nil {
		return nil, err
	}
	hash, err := params.Hash(secret)
	return &account{hash: hash, comparer: a.comparer}, err
}

// userSet is an immutable set of accounts and the decoy for unknown names.
type userSet struct {
	accounts map[string]*account
	decoy    *account
}

// check compares a password. Every path costs one hash comparison:
// unknown and disabled users, and over-long bcrypt passwords, compare
// against the decoy or their own hash and fail. A name that no user may
// have (checkUserName) is compared against the decoy as it is, never
// turned into another.
func (s *userSet) check(name, password string) (*account, bool) {
	a := s.accounts[name]
	if a == nil || name == "" || checkUserName(name) != nil {
		_, _ = s.decoy.comparer.Compare(s.decoy.hash, []byte(password))
		return nil, false
	}
	ok, err := a.comparer.Compare(a.hash, []byte(password))
	if err != nil || !ok || a.disabled || password == "" || (a.bcrypt && len(password) > bcryptMaxPassword) {
		return nil, false
	}
	return a, true
}

// newUserSet builds a set from the users in the config and in the file;
// the config's win over the file's of the same name.
func newUserSet(config, file map[string]*account) (*userSet, error) {
	all := maps.Clone(file)
	if all == nil {
		all = make(map[string]*account)
	}
	maps.Copy(all, config)
	s := &userSet{accounts: all}
	names := slices.Sorted(maps.Keys(all))
	if len(names) == 0 {
		s.decoy = &account{hash: caddyauth.BcryptHash{}.FakeHash(), comparer: caddyauth.BcryptHash{}, bcrypt: true}
		return s, nil
	}
	decoy, err := decoyFor(all[names[0]])
	if err != nil {
		return nil, fmt.Errorf("making the decoy hash: %w", err)
	}
	s.decoy = decoy
	return s, nil
}

// parseUsersFile reads a users file: a JSON object
// {"<name>": {"password": "<hash>", "claims": {...}, "disabled": false,
// "totp": "<base32 secret>"}},
// or htpasswd lines name:hash (blank lines and # comments skipped).
func parseUsersFile(data []byte) (map[string]*account, error) {
	users := make(map[string]*account)
	if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] == '{' {
		if !utf8.Valid(trimmed) {
			return nil, fmt.Errorf("JSON: not valid UTF-8 at byte %d", invalidUTF8At(data))
		}
		var entries map[string]User
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		dec.UseNumber()
		if err := dec.Decode(&entries); err != nil {
			return nil, fmt.Errorf("JSON: %w", err)
		}
		if _, err := dec.Token(); err != io.EOF {
			return nil, errors.New("JSON: data after the users object")
		}
		for name, u := range entries {
			u.Name = name
			a, err := newAccount(u)
			if err != nil {
				return nil, err
			}
			users[name] = a
		}
		return users, nil
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if !utf8.ValidString(text) {
			return nil, fmt.Errorf("line %d: not valid UTF-8", line)
		}
		name, hash, ok := strings.Cut(text, ":")
		if !ok || name == "" {
			return nil, fmt.Errorf("line %d: expected name:hash", line)
		}
		a, err := newAccount(User{Name: name, Password: hash})
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		users[name] = a
	}
	return users, sc.Err()
}

// invalidUTF8At is the offset of the first byte of data that is not
// valid UTF-8, or len(data).
func invalidUTF8At(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return len(data)
}

// userStore holds the current users and reloads the users file when it
// changes; a file that no longer parses keeps the last good users.
type userStore struct {
	config  map[string]*account
	file    string
	current atomic.Pointer[userSet]
	stamp   fileStamp
	statErr string // why the file could not be read at the last poll; "" when it could
	logger  *zap.Logger
}

type fileStamp struct {
	mod  time.Time
	size int64
}

func newUserStore(users []User, file string, logger *zap.Logger) (*userStore, error) {
	st := &userStore{config: make(map[string]*account), file: file, logger: logger}
	for _, u := range users { // names checked by IssuerConfig.Validate
		a, err := newAccount(u)
		if err != nil {
			return nil, fmt.Errorf("user: %w", err)
		}
		st.config[u.Name] = a
	}
	var fromFile map[string]*account
	if file != "" {
		var err error
		if fromFile, st.stamp, err = readUsersFile(file); err != nil {
			return nil, fmt.Errorf("users_file %s: %w", file, err)
		}
		// An empty file at load is refused as the watcher refuses it: a
		// reload with a file being rewritten must not drop every user.
		if len(fromFile) == 0 {
			return nil, fmt.Errorf("users_file %s: no users in the file", file)
		}
	}
	set, err := newUserSet(st.config, fromFile)
	if err != nil {
		return nil, err
	}
	st.current.Store(set)
	return st, nil
}

func readUsersFile(file string) (map[string]*account, fileStamp, error) {
	info, err := os.Stat(file)
	if err != nil {
		return nil, fileStamp{}, err
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fileStamp{}, err
	}
	users, err := parseUsersFile(data)
	return users, fileStamp{info.ModTime(), info.Size()}, err
}

// reload reads the users file again when its modification time or size
// changed. A file that cannot be read (missing, say) is logged once, not
// at every poll, until it can be read again or fails another way.
func (st *userStore) reload() {
	info, err := os.Stat(st.file)
	if err != nil {
		if msg := err.Error(); msg != st.statErr {
			st.statErr = msg
			st.logger.Error("users file unreadable; keeping the last good users", zap.String("file", st.file), zap.Error(err))
		}
		return
	}
	st.statErr = ""
	if (fileStamp{info.ModTime(), info.Size()}) == st.stamp {
		return
	}
	users, stamp, err := readUsersFile(st.file)
	if err == nil && len(users) == 0 {
		err = errors.New("no users in the file (a write under way?)")
	}
	if err == nil {
		var set *userSet
		if set, err = newUserSet(st.config, users); err == nil {
			st.current.Store(set)
			st.stamp = stamp
			st.logger.Info("users file reloaded", zap.String("file", st.file), zap.Int("users", len(set.accounts)))
			return
		}
	}
	st.stamp = stamp // report a broken file once, not at every poll
	st.logger.Error("users file does not parse; keeping the last good users", zap.String("file", st.file), zap.Error(err))
}
