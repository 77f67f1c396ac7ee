// Package docs holds no code: only the tests that keep README.md and the
// pages under docs/ true to the code. They live in a package of their own,
// beside the pages they read, so that they import the plugin as a user's
// Caddy does (through its init, with Caddy's standard modules), read the
// root package's source as data (go/ast, never the package's internals),
// and run as their own test binary, in parallel with the root package's.
//
//   - TestDocsCaddyfilesAdapt: every fenced caddyfile block adapts.
//   - TestDocsJSONBlocksDecode: every fenced json block that is a jwt_auth
//     handler decodes into caddyjwt.Handler, unknown fields refused.
//   - TestReferenceMatchesParser: docs/reference.md documents exactly the
//     subdirectives (and their inner options) the Caddyfile parser knows.
//   - TestGodocJSONFields: every JSON field of the config types has a doc
//     comment (it becomes the module's page in Caddy's docs).
//   - TestDocsLinksResolve: every relative link resolves, #anchors too.
package docs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile" // registers the caddyfile adapter
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	"github.com/caddyjwt/caddyjwt"
)

// root is the repository root, seen from this package's folder.
const root = ".."

// partialMarker, on the first line of a caddyfile block, marks it as a
// part of a Caddyfile: lines of a jwt_auth block, or of a site block.
const partialMarker = "# partial"

// ---------------------------------------------------------------------------
// markdown

// markdownFiles returns README.md and every .md file under docs/, as paths
// relative to the repository root, with slashes.
func markdownFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"README.md"}
	err := filepath.WalkDir(filepath.Join(root, "docs"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".md") {
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func readRepoFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fence is a fenced code block of a markdown file.
type fence struct {
	file string
	line int    // of the opening fence, 1-based
	lang string // the info string's first word
	body string
}

func (f fence) String() string { return fmt.Sprintf("%s:%d", f.file, f.line) }

// fences returns the fenced code blocks of a markdown text (``` or ~~~,
// indented by up to three spaces or inside list items).
func fences(file, text string) []fence {
	var out []fence
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		open := strings.TrimLeft(lines[i], " \t")
		if !strings.HasPrefix(open, "```") && !strings.HasPrefix(open, "~~~") {
			continue
		}
		marker := open[:3]
		lang, _, _ := strings.Cut(strings.TrimSpace(open[3:]), " ")
		var body []string
		j := i + 1
		for ; j < len(lines); j++ {
			if strings.HasPrefix(strings.TrimLeft(lines[j], " \t"), marker) {
				break
			}
			body = append(body, lines[j])
		}
		out = append(out, fence{file: file, line: i + 1, lang: strings.ToLower(lang), body: strings.Join(body, "\n") + "\n"})
		i = j
	}
	return out
}

// proseLines returns a markdown text's lines outside fenced code blocks,
// with their 1-based numbers.
func proseLines(text string) map[int]string {
	out := map[int]string{}
	inFence, marker := false, ""
	for i, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimLeft(line, " \t")
		if inFence {
			if strings.HasPrefix(trimmed, marker) {
				inFence = false
			}
			continue
		}
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			inFence, marker = true, trimmed[:3]
			continue
		}
		out[i+1] = line
	}
	return out
}

// ---------------------------------------------------------------------------
// TestDocsCaddyfilesAdapt

// TestDocsCaddyfilesAdapt adapts every fenced caddyfile block of README.md
// and docs/ with Caddy's own caddyfile adapter, the plugin imported. A
// block whose first line is "# partial" is wrapped first: in a jwt_auth
// block and a site block when its first directive is a jwt_auth
// subdirective, else in a site block only.
func TestDocsCaddyfilesAdapt(t *testing.T) {
	adapter := caddyconfig.GetAdapter("caddyfile")
	if adapter == nil {
		t.Fatal("no caddyfile adapter registered")
	}
	subdirectives := map[string]bool{}
	for name := range parserNames(t) {
		if !strings.Contains(name, " ") {
			subdirectives[name] = true
		}
	}
	n := 0
	for _, file := range markdownFiles(t) {
		for _, f := range fences(file, readRepoFile(t, file)) {
			if f.lang != "caddyfile" {
				continue
			}
			n++
			src := wrapPartial(f.body, subdirectives)
			_, warnings, err := adapter.Adapt([]byte(src), map[string]any{"filename": f.String()})
			if err != nil {
				t.Errorf("%s: the caddyfile block does not adapt: %v\n%s", f, err, src)
				continue
			}
			for _, w := range warnings {
				if !strings.Contains(w.Message, "not formatted") { // comments aligned with spaces
					t.Logf("%s: adapt warning: %s", f, w.String())
				}
			}
		}
	}
	if n < 10 {
		t.Errorf("found only %d caddyfile blocks in README.md and docs/: is the fence parser broken?", n)
	}
}

// wrapPartial returns a whole Caddyfile for a block: the block itself, or
// for a "# partial" block, the block inside a site (and a jwt_auth block
// when its first directive is one of subdirectives).
func wrapPartial(body string, subdirectives map[string]bool) string {
	first, _, _ := strings.Cut(body, "\n")
	if strings.TrimSpace(first) != partialMarker {
		return body
	}
	for _, line := range strings.Split(body, "\n") {
		word, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		if word == "" || strings.HasPrefix(word, "#") {
			continue
		}
		if subdirectives[word] {
			return "example.com {\n\tjwt_auth {\n" + body + "\n\t}\n}\n"
		}
		break
	}
	return "example.com {\n" + body + "\n}\n"
}

// ---------------------------------------------------------------------------
// TestDocsJSONBlocksDecode

// TestDocsJSONBlocksDecode decodes every fenced json block whose top-level
// "handler" is "jwt_auth" into caddyjwt.Handler, refusing unknown fields:
// a field renamed in the code, or misspelt in the docs, fails.
func TestDocsJSONBlocksDecode(t *testing.T) {
	n := 0
	for _, file := range markdownFiles(t) {
		for _, f := range fences(file, readRepoFile(t, file)) {
			if f.lang != "json" {
				continue
			}
			var probe struct {
				Handler string `json:"handler"`
			}
			if json.Unmarshal([]byte(f.body), &probe) != nil || probe.Handler != "jwt_auth" {
				continue
			}
			n++
			dec := json.NewDecoder(bytes.NewReader([]byte(f.body)))
			dec.DisallowUnknownFields()
			var h struct {
				caddyjwt.Handler
				HandlerName string `json:"handler"`
			}
			if err := dec.Decode(&h); err != nil {
				t.Errorf("%s: the jwt_auth JSON does not decode into the handler's config: %v", f, err)
			}
		}
	}
	if n == 0 {
		t.Error(`no json block with "handler": "jwt_auth" found in the docs`)
	}
}

// ---------------------------------------------------------------------------
// the parser's names, from the source

// rootPackage parses the root package's non-test Go files.
func rootPackage(t *testing.T) (*token.FileSet, []*ast.File) {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(root, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		if f.Name.Name == "caddyjwt" {
			files = append(files, f)
		}
	}
	if len(files) == 0 {
		t.Fatal("no Go files of package caddyjwt in the repository root")
	}
	return fset, files
}

// parserNames returns the subdirectives the Caddyfile parser knows, and
// their inner options as "<subdirective> <option>", read from the source:
// starting at (*Handler).UnmarshalCaddyfile, the string literals that a
// name read from the Dispenser is switched on or compared with; a function
// that takes a *caddyfile.Dispenser and is called from within a `case
// "<name>":` reads that name's inner options.
func parserNames(t *testing.T) map[string]bool {
	t.Helper()
	_, files := rootPackage(t)
	funcs := map[string]*ast.FuncDecl{}
	for _, f := range files {
		for _, decl := range f.Decls {
			if fd, ok := decl.(*ast.FuncDecl); ok && fd.Body != nil && takesDispenser(fd) {
				funcs[fd.Name.Name] = fd
			}
		}
	}
	start, ok := funcs["UnmarshalCaddyfile"]
	if !ok {
		t.Fatal("no UnmarshalCaddyfile in the root package")
	}
	names := map[string]bool{}
	visited := map[string]bool{}
	var collect func(fd *ast.FuncDecl, scope string)
	collect = func(fd *ast.FuncDecl, scope string) {
		key := fd.Name.Name + "\x00" + scope
		if visited[key] {
			return
		}
		visited[key] = true
		nameVars := nameVariables(fd)
		add := func(lit string) {
			if scope == "" {
				names[lit] = true
			} else {
				names[scope+" "+lit] = true
			}
		}
		// calls maps each call to a Dispenser-taking function to the case
		// literals it stands under ("" when under none).
		var walk func(n ast.Node, under []string)
		walk = func(n ast.Node, under []string) {
			ast.Inspect(n, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.SwitchStmt:
					id, ok := n.Tag.(*ast.Ident)
					if !ok || !nameVars[id.Name] {
						return true
					}
					for _, stmt := range n.Body.List {
						cc := stmt.(*ast.CaseClause)
						var lits []string
						for _, e := range cc.List {
							if s, ok := stringLit(e); ok {
								lits = append(lits, s)
								add(s)
							}
						}
						for _, s := range cc.Body {
							walk(s, lits)
						}
					}
					return false
				case *ast.BinaryExpr:
					if n.Op == token.EQL || n.Op == token.NEQ {
						for _, pair := range [][2]ast.Expr{{n.X, n.Y}, {n.Y, n.X}} {
							if id, ok := pair[0].(*ast.Ident); ok && nameVars[id.Name] {
								if s, ok := stringLit(pair[1]); ok {
									add(s)
								}
							}
						}
					}
				case *ast.CallExpr:
					callee := calledFunc(n, funcs)
					if callee == nil || callee == fd {
						return true
					}
					if len(under) == 0 {
						collect(callee, scope)
					}
					for _, lit := range under {
						inner := lit
						if scope != "" {
							inner = scope + " " + lit
						}
						collect(callee, inner)
					}
				}
				return true
			})
		}
		walk(fd.Body, nil)
	}
	collect(start, "")
	return names
}

// takesDispenser tells whether fd has a *caddyfile.Dispenser parameter.
func takesDispenser(fd *ast.FuncDecl) bool {
	for _, p := range fd.Type.Params.List {
		if star, ok := p.Type.(*ast.StarExpr); ok {
			if sel, ok := star.X.(*ast.SelectorExpr); ok && sel.Sel.Name == "Dispenser" {
				return true
			}
		}
	}
	return false
}

// nameVariables are the identifiers of fd that hold a name read from the
// Caddyfile: its string parameters, and variables assigned from a
// `<dispenser>.Val()` call.
func nameVariables(fd *ast.FuncDecl) map[string]bool {
	vars := map[string]bool{}
	for _, p := range fd.Type.Params.List {
		if id, ok := p.Type.(*ast.Ident); ok && id.Name == "string" {
			for _, n := range p.Names {
				vars[n.Name] = true
			}
		}
	}
	ast.Inspect(fd.Body, func(n ast.Node) bool {
		as, ok := n.(*ast.AssignStmt)
		if !ok || len(as.Lhs) != len(as.Rhs) {
			return true
		}
		for i, rhs := range as.Rhs {
			call, ok := rhs.(*ast.CallExpr)
			if !ok {
				continue
			}
			if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Val" && len(call.Args) == 0 {
				if id, ok := as.Lhs[i].(*ast.Ident); ok {
					vars[id.Name] = true
				}
			}
		}
		return true
	})
	return vars
}

// calledFunc returns the Dispenser-taking function of the package that
// call calls (a function or a method), or nil.
func calledFunc(call *ast.CallExpr, funcs map[string]*ast.FuncDecl) *ast.FuncDecl {
	switch fun := call.Fun.(type) {
	case *ast.Ident:
		return funcs[fun.Name]
	case *ast.SelectorExpr:
		if fd := funcs[fun.Sel.Name]; fd != nil && fd.Recv != nil {
			return fd
		}
	}
	return nil
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// ---------------------------------------------------------------------------
// TestReferenceMatchesParser

// referenceNames returns the names docs/reference.md documents: each
// "### `<subdirective>`" heading, and each "#### `<option>`" heading under
// one, as "<subdirective> <option>".
func referenceNames(t *testing.T) map[string]int {
	t.Helper()
	names := map[string]int{}
	heading := regexp.MustCompile("^(###|####) `([a-z_]+)`$")
	parent := ""
	text := readRepoFile(t, "docs/reference.md")
	prose := proseLines(text)
	for i := 1; i <= strings.Count(text, "\n")+1; i++ {
		line, ok := prose[i]
		if !ok {
			continue
		}
		if strings.HasPrefix(line, "## ") {
			parent = ""
			continue
		}
		m := heading.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		name := m[2]
		if m[1] == "###" {
			parent = name
		} else {
			if parent == "" {
				t.Errorf("docs/reference.md:%d: inner option %q stands under no subdirective heading", i, name)
				continue
			}
			name = parent + " " + name
		}
		if names[name] != 0 {
			t.Errorf("docs/reference.md:%d: %q documented twice (also at line %d)", i, name, names[name])
		}
		names[name] = i
	}
	return names
}

// TestReferenceMatchesParser holds docs/reference.md to the parser: every
// subdirective and inner option the parser knows has its section, and
// every section names something the parser knows.
func TestReferenceMatchesParser(t *testing.T) {
	parsed := parserNames(t)
	documented := referenceNames(t)
	for _, must := range []string{"secret", "key", "key rotate", "cookie", "cookie same_site", "login_title"} {
		if !parsed[must] {
			t.Fatalf("the names read from the parser lack %q: the extraction from the source is broken (found %v)", must, slices.Sorted(maps.Keys(parsed)))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(parsed)) {
		if documented[name] == 0 {
			t.Errorf("the parser knows %q, which docs/reference.md does not document (want a heading %s)", name, wantHeading(name))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(documented)) {
		if !parsed[name] {
			t.Errorf("docs/reference.md:%d documents %q, which the parser does not know", documented[name], name)
		}
	}
}

func wantHeading(name string) string {
	if parent, opt, ok := strings.Cut(name, " "); ok {
		return fmt.Sprintf("#### `%s` under ### `%s`", opt, parent)
	}
	return fmt.Sprintf("### `%s`", name)
}

// ---------------------------------------------------------------------------
// TestGodocJSONFields

// TestGodocJSONFields asks a doc comment of every field with a json tag in
// the config types: Handler and every struct type of the root package that
// its fields lead to (IssuerConfig, KeyConfig, CookieConfig, LoginLimit,
// ClaimRule, TokenSource, ClaimHeader, User, ...). Caddy's module docs are
// made from these comments.
func TestGodocJSONFields(t *testing.T) {
	fset, files := rootPackage(t)
	structs := map[string]*ast.StructType{}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			if ts, ok := n.(*ast.TypeSpec); ok {
				if st, ok := ts.Type.(*ast.StructType); ok {
					structs[ts.Name.Name] = st
				}
			}
			return true
		})
	}
	if structs["Handler"] == nil {
		t.Fatal("no Handler struct in the root package")
	}
	seen := map[string]bool{}
	fields := 0
	var visit func(name string)
	visit = func(name string) {
		st := structs[name]
		if st == nil || seen[name] {
			return
		}
		seen[name] = true
		for _, field := range st.Fields.List {
			tag := jsonTag(field)
			if len(field.Names) == 0 && tag == "" { // embedded: its fields sit inline
				for _, typ := range typeNames(field.Type) {
					visit(typ)
				}
				continue
			}
			if tag == "" || tag == "-" { // runtime state, not config
				continue
			}
			for _, typ := range typeNames(field.Type) {
				visit(typ)
			}
			fields++
			label := name + "." + fieldName(field)
			if field.Doc == nil || strings.TrimSpace(field.Doc.Text()) == "" {
				t.Errorf("%s: %s (json %q) has no doc comment", fset.Position(field.Pos()), label, tag)
			}
		}
	}
	visit("Handler")
	for _, want := range []string{"IssuerConfig", "KeyConfig", "CookieConfig", "LoginLimit", "ClaimRule", "TokenSource", "ClaimHeader", "User"} {
		if !seen[want] {
			t.Errorf("the config types reached from Handler lack %s: the walk is broken (reached %v)", want, slices.Sorted(maps.Keys(seen)))
		}
	}
	t.Logf("%d JSON fields in %d config types", fields, len(seen))
}

// typeNames returns the local type names an expression refers to, through
// pointers, slices, arrays and maps.
func typeNames(e ast.Expr) []string {
	switch e := e.(type) {
	case *ast.Ident:
		return []string{e.Name}
	case *ast.StarExpr:
		return typeNames(e.X)
	case *ast.ArrayType:
		return typeNames(e.Elt)
	case *ast.MapType:
		return append(typeNames(e.Key), typeNames(e.Value)...)
	}
	return nil
}

// jsonTag returns the name part of a field's json tag ("" when none).
func jsonTag(field *ast.Field) string {
	if field.Tag == nil {
		return ""
	}
	raw, err := strconv.Unquote(field.Tag.Value)
	if err != nil {
		return ""
	}
	name, _, _ := strings.Cut(reflect.StructTag(raw).Get("json"), ",")
	if name == "" && reflect.StructTag(raw).Get("json") != "" {
		return fieldName(field)
	}
	return name
}

func fieldName(field *ast.Field) string {
	if len(field.Names) > 0 {
		return field.Names[0].Name
	}
	return fmt.Sprint(field.Type)
}

// ---------------------------------------------------------------------------
// TestDocsLinksResolve

var (
	// inlineLink matches [text](target) and ![alt](target), with an
	// optional "title".
	inlineLink = regexp.MustCompile(`!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	// codeSpan matches an inline code span.
	codeSpan = regexp.MustCompile("`+[^`]*`+")
	// headingLine matches an ATX heading.
	headingLine = regexp.MustCompile(`^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$`)
	// linkText turns [text](url) into text in a heading.
	linkText = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
)

// TestDocsLinksResolve checks every relative link of README.md and docs/:
// the file (or folder) exists, and an #anchor names a heading of the
// target, by GitHub's slug rules.
func TestDocsLinksResolve(t *testing.T) {
	anchors := map[string]map[string]bool{} // file → its heading slugs
	anchorsOf := func(rel string) map[string]bool {
		if a, ok := anchors[rel]; ok {
			return a
		}
		anchors[rel] = headingSlugs(readRepoFile(t, rel))
		return anchors[rel]
	}
	links := 0
	for _, file := range markdownFiles(t) {
		text := readRepoFile(t, file)
		prose := proseLines(text)
		for n := 1; n <= strings.Count(text, "\n")+1; n++ {
			line, ok := prose[n]
			if !ok {
				continue
			}
			line = codeSpan.ReplaceAllString(line, "")
			for _, m := range inlineLink.FindAllStringSubmatch(line, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				links++
				where := fmt.Sprintf("%s:%d: link %q", file, n, target)
				pathPart, anchor, _ := strings.Cut(target, "#")
				rel := file
				if pathPart != "" {
					rel = filepath.ToSlash(filepath.Clean(filepath.Join(filepath.Dir(file), filepath.FromSlash(pathPart))))
					if strings.HasPrefix(rel, "../") {
						t.Errorf("%s: leads out of the repository", where)
						continue
					}
					if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(rel))); err != nil {
						t.Errorf("%s: %s does not exist", where, rel)
						continue
					}
				}
				if anchor == "" {
					continue
				}
				if !strings.HasSuffix(rel, ".md") {
					t.Errorf("%s: an anchor into %s, which is not a markdown page", where, rel)
					continue
				}
				if !anchorsOf(rel)[anchor] {
					t.Errorf("%s: %s has no heading with the anchor #%s", where, rel, anchor)
				}
			}
		}
	}
	if links < 20 {
		t.Errorf("found only %d relative links: is the link parser broken?", links)
	}
}

// headingSlugs returns the anchors GitHub gives the headings of a markdown
// text: lowercased, inline code and link markup dropped, every character
// but letters, digits, '_' and '-' removed, spaces turned into '-', and a
// "-1", "-2"... suffix for repeats.
func headingSlugs(text string) map[string]bool {
	slugs := map[string]bool{}
	count := map[string]int{}
	prose := proseLines(text)
	for n := 1; n <= strings.Count(text, "\n")+1; n++ {
		line, ok := prose[n]
		if !ok {
			continue
		}
		m := headingLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		s := githubSlug(m[2])
		if c := count[s]; c > 0 {
			slugs[fmt.Sprintf("%s-%d", s, c)] = true
		} else {
			slugs[s] = true
		}
		count[s]++
	}
	return slugs
}

// githubSlug is GitHub's anchor for a heading's text.
func githubSlug(heading string) string {
	heading = linkText.ReplaceAllString(heading, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case unicode.IsLetter(r), unicode.IsDigit(r), r == '_', r == '-':
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('-')
		}
	}
	return b.String()
}

// TestDocsGithubSlug pins the slug rules on headings of these docs.
func TestDocsGithubSlug(t *testing.T) {
	for heading, want := range map[string]string{
		"Remote keys: `jwks` and `oidc`":                 "remote-keys-jwks-and-oidc",
		"The `caddy jwt` command":                        "the-caddy-jwt-command",
		"`login_page`":                                   "login_page",
		"Faults and operations":                          "faults-and-operations",
		"Behind Google Cloud Identity-Aware Proxy (IAP)": "behind-google-cloud-identity-aware-proxy-iap",
		"[Sessions](x.md) & more":                        "sessions--more",
	} {
		if got := githubSlug(heading); got != want {
			t.Errorf("githubSlug(%q) = %q, want %q", heading, got, want)
		}
	}
	if !slices.Contains(slices.Sorted(maps.Keys(headingSlugs("# A\n## A\n```\n# not a heading\n```\n"))), "a-1") {
		t.Error("a repeated heading does not get the -1 suffix")
	}
}
