package caddyjwt

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/caddyjwt/caddyjwt/internal/jws"
	"github.com/caddyserver/caddy/v2"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
)

// cmdInspectCommand is `caddy jwt inspect`.
func cmdInspectCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "inspect <token|->",
		Short: "Decodes a token WITHOUT verifying it",
		Long: `Decodes a token's header and claims and writes them to stdout as JSON:
{"header": {...}, "claims": {...}, "verified": false}. Nothing is checked:
not the signature, not exp, not the issuer. To check a token, use
'caddy jwt verify'. A line on stderr says so, and shows exp, nbf and iat
as dates.

The token is the argument, or stdin when the argument is -. A leading
"Bearer " is ignored.`,
		Example: `  $ caddy jwt inspect eyJhbGciOi...
  $ pbpaste | caddy jwt inspect -
  $ caddy jwt inspect - < token | jq .claims`,
		Args: cobra.ExactArgs(1),
		RunE: cmdInspect,
	}
}

func cmdInspect(cmd *cobra.Command, args []string) error {
	raw, err := cmdReadToken(cmd, args[0])
	if err != nil {
		return err
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return errors.New("not a JWT: a token is three base64url parts separated by dots")
	}
	header, err := cmdDecodePart(parts[0], "header")
	if err != nil {
		return err
	}
	claims, err := cmdDecodePart(parts[1], "claims")
	if err != nil {
		return err
	}
	if _, err := base64.RawURLEncoding.DecodeString(parts[2]); err != nil {
		return errors.New("not a JWT: the signature is not base64url")
	}

	err = cmdWriteJSON(cmd.OutOrStdout(), struct {
		Header   map[string]any `json:"header"`
		Claims   map[string]any `json:"claims"`
		Verified bool           `json:"verified"`
	}{header, claims, false})
	if err != nil {
		return err
	}
	stderr := cmd.ErrOrStderr()
	fmt.Fprintln(stderr, "UNVERIFIED: neither the signature nor the claims were checked")
	t := now()
	for _, name := range []string{"exp", "nbf", "iat"} {
		if v, ok := claims[name]; ok {
			fmt.Fprintf(stderr, "%s: %s\n", name, cmdDescribeTime(v, t))
		}
	}
	return nil
}

// cmdDecodePart decodes a base64url JSON object of a token.
func cmdDecodePart(part, name string) (map[string]any, error) {
	data, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return nil, fmt.Errorf("not a JWT: the %s is not base64url", name)
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, fmt.Errorf("not a JWT: the %s is not a JSON object", name)
	}
	return m, nil
}

// cmdDescribeTime shows a NumericDate claim as a date and its distance
// from now.
func cmdDescribeTime(v any, t time.Time) string {
	n, ok := v.(json.Number)
	if !ok {
		return fmt.Sprintf("%v (not a number)", v)
	}
	secs, err := n.Float64()
	if err != nil {
		return fmt.Sprintf("%s (not a number)", n)
	}
	whole := math.Floor(secs)
	at := time.Unix(int64(whole), int64((secs-whole)*1e9)).UTC()
	d := at.Sub(t).Round(time.Second)
	switch {
	case d > 0:
		return fmt.Sprintf("%s (in %s)", at.Format(time.RFC3339), d)
	case d < 0:
		return fmt.Sprintf("%s (%s ago)", at.Format(time.RFC3339), -d)
	}
	return at.Format(time.RFC3339) + " (now)"
}

// cmdVerifyCommand is `caddy jwt verify`.
func cmdVerifyCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "verify (--key <file>... | --secret <text> | --jwks <url|file>...) [--issuer <iss>...] [--audience <aud>...] [--leeway <duration>] [--allow-missing-exp] <token|->",
		Short: "Verifies a token as the jwt_auth guard does",
		Long: `Verifies a token with the guard's own code: the same key selection by
kid and alg, signature check, exp/nbf/iat with leeway, issuer and audience.
On success the claims are written to stdout as JSON and the status is 0;
otherwise the guard's reason ("token expired", "signature invalid",
"issuer not accepted", ...) is written to stderr and the status is 1.
Revocations and require rules are not checked: they live in the server.

--key                a key file: PEM (private key, public key or
                     certificate) or a JWK (set). Repeatable.
--secret             an HMAC secret, as the secret subdirective takes it
                     ('{env.JWT_SECRET}' keeps it off the command line).
--jwks               a JWK set: an https:// URL (http:// only for
                     loopback), fetched once, or a local file. Repeatable.
--issuer             an accepted iss. Repeatable. Default: not checked.
--audience           an accepted aud. Repeatable. Default: not checked.
--leeway             the clock skew allowed. Default: 30s.
--allow-missing-exp  accept a token without exp.

The token is the argument, or stdin when the argument is -. A leading
"Bearer " is ignored.`,
		Example: `  $ caddy jwt verify --key jwt.pem eyJhbGciOi...
  $ caddy jwt verify --secret '{env.JWT_SECRET}' --issuer https://auth.example.com - < token
  $ caddy jwt verify --jwks https://auth.example.com/.well-known/jwks.json --audience api "$TOKEN"`,
		Args: cobra.ExactArgs(1),
		RunE: cmdVerify,
	}
	f := c.Flags()
	f.StringArray("key", nil, "key file (PEM or JWK); repeatable")
	f.String("secret", "", "HMAC secret (text, base64:..., or a placeholder such as {env.JWT_SECRET})")
	f.StringArray("jwks", nil, "JWK set URL or file; repeatable")
	f.StringArray("issuer", nil, "accepted issuer; repeatable")
	f.StringArray("audience", nil, "accepted audience; repeatable")
	f.String("leeway", "30s", "clock skew allowed")
	f.Bool("allow-missing-exp", false, "accept a token without exp")
	c.MarkFlagsOneRequired("key", "secret", "jwks")
	return c
}

func cmdVerify(cmd *cobra.Command, args []string) error {
	flags := cmd.Flags()
	opts := verifierOptions{
		secret:          cmdString(flags.GetString("secret")),
		keyFiles:        cmdStrings(flags.GetStringArray("key")),
		issuers:         cmdStrings(flags.GetStringArray("issuer")),
		audiences:       cmdStrings(flags.GetStringArray("audience")),
		allowMissingExp: cmdBool(flags.GetBool("allow-missing-exp")),
	}
	for _, src := range cmdStrings(flags.GetStringArray("jwks")) {
		if strings.Contains(src, "://") {
			opts.jwksURLs = append(opts.jwksURLs, src)
		} else {
			opts.keyFiles = append(opts.keyFiles, src) // key files may hold a JWK set
		}
	}
	var err error
	if opts.leeway, err = caddy.ParseDuration(cmdString(flags.GetString("leeway"))); err != nil {
		return fmt.Errorf("leeway: %w", err)
	}
	if opts.leeway < 0 {
		return errors.New("leeway: must not be negative")
	}
	raw, err := cmdReadToken(cmd, args[0])
	if err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(cmdContext(cmd))
	defer cancel()
	keys, err := cmdVerificationKeys(ctx, opts)
	if err != nil {
		return err
	}
	v := &jws.Verifier{
		Leeway: opts.leeway, AllowMissingExp: opts.allowMissingExp,
		Issuers: opts.issuers, Audiences: opts.audiences, Now: now,
	}
	t, err := v.Verify(raw, keys, false)
	if err != nil {
		return errors.New(failureOfJWS(err).description)
	}
	claims := t.Claims
	if claims == nil {
		claims = jws.DecodeClaims(t.Payload)
	}
	return cmdWriteJSON(cmd.OutOrStdout(), claims)
}

// verifierOptions are what `caddy jwt verify` takes from its flags.
type verifierOptions struct {
	secret          string
	keyFiles        []string // PEM or JWK (set) files
	jwksURLs        []string
	issuers         []string
	audiences       []string
	leeway          time.Duration
	allowMissingExp bool
}

// cmdVerificationKeys loads the keys as the handler's subdirectives do
// (secret, key files, jwks), with the same checks, and builds the set the
// token package verifies with. Remote key sets are fetched once, now; a
// set that cannot be fetched is an error (a server would retry in the
// background instead). ctx bounds the fetches.
func cmdVerificationKeys(ctx context.Context, opts verifierOptions) (*jws.KeySet, error) {
	var keys []*key
	if opts.secret != "" {
		k, err := secretKey(opts.secret)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	for _, f := range opts.keyFiles {
		ks, err := loadKeyFile(KeyConfig{File: f})
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", f, err)
		}
		keys = append(keys, ks...)
	}
	for _, u := range opts.jwksURLs {
		if err := checkRemoteURL(u); err != nil {
			return nil, fmt.Errorf("jwks: %w", err)
		}
		rk := newRemoteKeys(u, "", zap.NewNop()) // private: a one-off fetch, never pooled
		if _, err := rk.fetch(ctx); err != nil {
			return nil, fmt.Errorf("%s: %w", rk.source(), err)
		}
		keys = append(keys, rk.keys()...)
	}
	ring, err := newKeyRing(keys, false)
	if err != nil {
		return nil, err
	}
	return ring.set, nil
}
