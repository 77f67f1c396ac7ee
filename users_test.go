package caddyjwt

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/crypto/bcrypt"
)

func bcryptHash(t testing.TB, pw string, cost int) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func TestParseUsersFile(t *testing.T) {
	hash := bcryptHash(t, "pw", bcrypt.MinCost)
	jsonUsers := `{"alice": {"password": "` + hash + `", "claims": {"role": "admin", "n": 7}}, "carol": {"password": "` + hash + `", "disabled": true}}`
	users, err := parseUsersFile([]byte(jsonUsers))
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 || users["alice"].claims["role"] != "admin" || !users["carol"].disabled {
		t.Errorf("JSON users: %+v", users)
	}
	if n := users["alice"].claims["n"]; claimText(n) != "7" {
		t.Errorf("numbers in claims are kept as JSON text: %#v", n)
	}

	ht := "# comment\n\nbob:" + hash + "\n  dave:" + strings.Replace(hash, "$2a$", "$2y$", 1) + "\n"
	if users, err = parseUsersFile([]byte(ht)); err != nil || len(users) != 2 || users["dave"] == nil {
		t.Errorf("htpasswd: %v %v", users, err)
	}

	for _, bad := range []string{
		`{"alice": {"password": "plaintext"}}`,
		`{"alice": `,
		"bob\n",
		"bob:$2a$10$short\n",
		"bob:{SHA}abc=\n",
		"eve:$argon2id$v=19$m=bad\n",
	} {
		if _, err := parseUsersFile([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestUserSetCheck(t *testing.T) {
	hash := bcryptHash(t, "right", bcrypt.MinCost)
	// caddy hash-password --algorithm argon2id --plaintext argon-pw --argon2id-memory 8192 --argon2id-time 1
	argon := "$argon2id$v=19$m=8192,t=1,p=1$mMh5Mf0AwqPy+T5NWss97g$Cs+pgAhf0awK9Z3kmI4p4v5c+DKDEERzm0KhMeQ52bU"
	long := strings.Repeat("x", 72)
	longHash := bcryptHash(t, long, bcrypt.MinCost)
	config := map[string]*account{}
	for name, u := range map[string]User{
		"alice": {Password: hash},
		"carol": {Password: hash, Disabled: true},
		"long":  {Password: longHash},
	} {
		u.Name = name
		a, err := newAccount(u)
		if err != nil {
			t.Fatal(err)
		}
		config[name] = a
	}
	fromFile, err := parseUsersFile([]byte("alice:" + bcryptHash(t, "file-pw", bcrypt.MinCost) + "\nargo:" + argon + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	set, err := newUserSet(config, fromFile)
	if err != nil {
		t.Fatal(err)
	}
	if cost, _ := bcrypt.Cost(set.decoy.hash); cost != bcrypt.MinCost {
		t.Errorf("decoy cost %d, want the users' cost %d", cost, bcrypt.MinCost)
	}
	for _, tc := range []struct {
		user, pw string
		ok       bool
	}{
		{"alice", "right", true},
		{"alice", "file-pw", false}, // the config's alice wins over the file's
		{"alice", "wrong", false},
		{"alice", "", false},
		{"", "", false},
		{"nobody", "right", false},
		{"carol", "right", false},
		{"argo", "argon-pw", true},
		{"argo", "nope", false},
		{"long", long, true},
		{"long", long + "y", false}, // bcrypt would ignore byte 73
	} {
		if _, ok := set.check(tc.user, tc.pw); ok != tc.ok {
			t.Errorf("check(%q, %q) = %v, want %v", tc.user, tc.pw, ok, tc.ok)
		}
	}
}

func TestDecoyHasTheUsersCost(t *testing.T) {
	a, err := newAccount(User{Name: "x", Password: string(caddyauth.BcryptHash{}.FakeHash())})
	if err != nil {
		t.Fatal(err)
	}
	decoy, err := decoyFor(a)
	if err != nil || string(decoy.hash) != string(caddyauth.BcryptHash{}.FakeHash()) {
		t.Errorf("at Caddy's default cost the decoy should be Caddy's FakeHash: %s %v", decoy.hash, err)
	}
	argon, err := newAccount(User{Name: "y", Password: "$argon2id$v=19$m=8192,t=1,p=1$mMh5Mf0AwqPy+T5NWss97g$Cs+pgAhf0awK9Z3kmI4p4v5c+DKDEERzm0KhMeQ52bU"})
	if err != nil {
		t.Fatal(err)
	}
	if decoy, err = decoyFor(argon); err != nil || !strings.HasPrefix(string(decoy.hash), "$argon2id$v=19$m=8192,t=1,p=1$") {
		t.Errorf("the argon2id decoy has other parameters: %s %v", decoy.hash, err)
	}
}

func TestUsersFileReload(t *testing.T) {
	file := filepath.Join(t.TempDir(), "users")
	write := func(content string, mod time.Time) {
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(file, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now().Add(-time.Hour)
	write("alice:"+bcryptHash(t, "one", bcrypt.MinCost)+"\n", start)
	st, err := newUserStore(nil, file, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.current.Load().check("alice", "one"); !ok {
		t.Fatal("first load")
	}

	write("alice:"+bcryptHash(t, "two", bcrypt.MinCost)+"\nbob:"+bcryptHash(t, "b", bcrypt.MinCost)+"\n", start.Add(time.Minute))
	st.reload()
	if _, ok := st.current.Load().check("alice", "two"); !ok {
		t.Error("a changed file is not picked up")
	}

	write("", start.Add(90*time.Second))
	st.reload()
	if _, ok := st.current.Load().check("bob", "b"); !ok {
		t.Error("an empty file (a write under way) lost the last good users")
	}

	write("alice:garbage\n", start.Add(2*time.Minute))
	st.reload()
	if _, ok := st.current.Load().check("bob", "b"); !ok {
		t.Error("a broken file lost the last good users")
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.InfoLevel)
	st.logger = zap.New(core)
	st.reload()
	if _, ok := st.current.Load().check("alice", "two"); !ok {
		t.Error("a removed file lost the last good users")
	}
	st.reload()
	st.reload()
	if n := logs.FilterMessage("users file unreadable; keeping the last good users").Len(); n != 1 {
		t.Errorf("a missing file was logged %d times over three polls, want once", n)
	}
	write("carol:"+bcryptHash(t, "c", bcrypt.MinCost)+"\n", start.Add(3*time.Minute))
	st.reload()
	if _, ok := st.current.Load().check("carol", "c"); !ok {
		t.Error("a file that came back is not picked up")
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	st.reload()
	if n := logs.FilterMessage("users file unreadable; keeping the last good users").Len(); n != 2 {
		t.Errorf("a file missing again was logged %d times in all, want twice", n)
	}

	if _, err := newUserStore(nil, filepath.Join(t.TempDir(), "missing"), zap.NewNop()); err == nil ||
		!strings.Contains(err.Error(), "users_file") {
		t.Errorf("a missing users file at load: %v", err)
	}
	if _, err := newUserStore([]User{{Name: "x", Password: "plain"}}, "", zap.NewNop()); err == nil ||
		!strings.HasPrefix(err.Error(), "user:") {
		t.Errorf("a plaintext user line: %v", err)
	}
}

// TestUsersFileEmptyAtLoad: a config load with a users file that is empty
// or does not parse fails, naming the file (the watcher keeps the last
// good users instead, TestUsersFileReload). Issue 19, item 4.
func TestUsersFileEmptyAtLoad(t *testing.T) {
	hash := bcryptHash(t, "pw", bcrypt.MinCost)
	for label, content := range map[string]string{
		"empty":                "",
		"blank lines":          "\n  \n",
		"comments only":        "# nobody yet\n",
		"empty JSON object":    "{}",
		"does not parse":       "alice:garbage\n",
		"truncated JSON":       `{"alice": {"password": "` + hash,
		"JSON with a bad name": `{"al\u0007ice": {"password": "` + hash + `"}}`,
	} {
		file := filepath.Join(t.TempDir(), "users.txt")
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := newUserStore([]User{{Name: "bob", Password: hash}}, file, zap.NewNop()); err == nil || !strings.Contains(err.Error(), "users_file "+file) {
			t.Errorf("%s: newUserStore: %v, want an error naming %s", label, err, file)
		}
		// Provision, as caddy run and caddy reload do it.
		_, err := provision(t, "jwt_auth {\n secret "+testSecret+"\n user bob "+hash+"\n users_file "+file+"\n login /login\n}")
		if err == nil || !strings.Contains(err.Error(), file) {
			t.Errorf("%s: provision: %v, want an error naming %s", label, err, file)
		}
	}
}

// TestUserNameRules: a user name that is not valid UTF-8, holds a control
// character or U+FFFD, or is longer than 256 bytes is refused at load,
// the error naming the entry; on a reload the last good users stay.
// Issue 16.
func TestUserNameRules(t *testing.T) {
	hash := bcryptHash(t, "pw", bcrypt.MinCost)
	for _, good := range []string{"alice", "zoë", "Ünïcödé-用户", "a b", strings.Repeat("n", 256), "alice@example.com"} {
		if err := checkUserName(good); err != nil {
			t.Errorf("checkUserName(%q): %v", good, err)
		}
		if _, err := parseUsersFile([]byte(good + ":" + hash + "\n")); err != nil {
			t.Errorf("htpasswd %q: %v", good, err)
		}
	}
	for _, tc := range []struct{ label, file, want string }{
		{"htpasswd, NUL", "bob:" + hash + "\nal\x00ice:" + hash + "\n", "line 2"},
		{"htpasswd, DEL", "al\x7fice:" + hash + "\n", "line 1"},
		{"htpasswd, C1", "al\u0085ice:" + hash + "\n", "line 1: user \"al\\u0085ice\""},
		{"htpasswd, bad UTF-8", "al\xffice:" + hash + "\n", "line 1: not valid UTF-8"},
		{"htpasswd, too long", strings.Repeat("n", 257) + ":" + hash + "\n", "longer than 256 bytes"},
		{"JSON, escaped control", `{"al\u0001ice": {"password": "` + hash + `"}}`, `user "al\x01ice": bad name`},
		{"JSON, C1 escape", `{"al\u009fice": {"password": "` + hash + `"}}`, `control character U+009F`},
		{"JSON, lone surrogate", `{"al\ud800ice": {"password": "` + hash + `"}}`, "U+FFFD"},
		{"JSON, bad UTF-8", "{\"al\xffice\": {\"password\": \"" + hash + "\"}}", "not valid UTF-8 at byte 4"},
		{"JSON, too long", `{"` + strings.Repeat("n", 300) + `": {"password": "` + hash + `"}}`, "longer than 256 bytes"},
	} {
		_, err := parseUsersFile([]byte(tc.file))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.label, err, tc.want)
		}
		if err != nil && len(err.Error()) > 300 {
			t.Errorf("%s: the error quotes too much: %d bytes", tc.label, len(err.Error()))
		}
	}

	// user lines in the config: Validate refuses them, naming the user.
	for _, name := range []string{"al\x00ice", "al\u0085ice", "al\xffice", strings.Repeat("n", 257)} {
		cfg := IssuerConfig{Login: "/login", Users: []User{{Name: name, Password: hash}}}
		if err := cfg.Validate(); err == nil || !strings.HasPrefix(err.Error(), "user ") || !strings.Contains(err.Error(), "bad name") {
			t.Errorf("user line %q: %v, want a bad name error", name, err)
		}
		if _, err := newUserStore(cfg.Users, "", zap.NewNop()); err == nil {
			t.Errorf("user %q: newUserStore accepted it", name)
		}
	}

	// The watcher: a file with a bad name keeps the last good users, and
	// the error is logged.
	file := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(file, []byte("bob:"+hash+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.ErrorLevel)
	st, err := newUserStore(nil, file, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte("bob:"+hash+"\ncar\x1bol:"+hash+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(file, later, later); err != nil {
		t.Fatal(err)
	}
	st.reload()
	if _, ok := st.current.Load().check("bob", "pw"); !ok {
		t.Error("a file with a bad name lost the last good users")
	}
	entries := logs.FilterMessage("users file does not parse; keeping the last good users").All()
	if len(entries) != 1 || !strings.Contains(entries[0].ContextMap()["error"].(string), "line 2") {
		t.Errorf("logged %v, want one error naming line 2", entries)
	}
}
