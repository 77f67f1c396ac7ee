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
	"strings"
	"sync/atomic"
	"time"

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
}

// account is a user ready for password checks.
type account struct {
	hash     []byte
	comparer caddyauth.Comparer
	bcrypt   bool
	claims   map[string]any
	disabled bool
}

func newAccount(u User) (*account, error) {
	a := &account{hash: []byte(u.Password), claims: u.Claims, disabled: u.Disabled}
	switch {
	case strings.HasPrefix(u.Password, "$2a$"), strings.HasPrefix(u.Password, "$2b$"), strings.HasPrefix(u.Password, "$2y$"):
		if _, err := bcrypt.Cost(a.hash); err != nil {
			return nil, fmt.Errorf("user %q: bad bcrypt hash: %w", u.Name, err)
		}
		a.comparer, a.bcrypt = caddyauth.BcryptHash{}, true
	case strings.HasPrefix(u.Password, "$argon2id$"):
		if _, _, err := caddyauth.DecodeHash(a.hash); err != nil {
			return nil, fmt.Errorf("user %q: bad argon2id hash: %w", u.Name, err)
		}
		a.comparer = caddyauth.Argon2idHash{}
	default:
		return nil, fmt.Errorf("user %q: the password must be a bcrypt or argon2id hash (caddy hash-password)", u.Name)
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
// against the decoy or their own hash and fail.
func (s *userSet) check(name, password string) (*account, bool) {
	a := s.accounts[name]
	if a == nil || name == "" {
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
// {"<name>": {"password": "<hash>", "claims": {...}, "disabled": false}},
// or htpasswd lines name:hash (blank lines and # comments skipped).
func parseUsersFile(data []byte) (map[string]*account, error) {
	users := make(map[string]*account)
	if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] == '{' {
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
