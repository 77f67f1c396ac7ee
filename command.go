package caddyjwt

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/golang-jwt/jwt/v5"
	"github.com/spf13/cobra"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "jwt",
		Usage: "<keygen|sign|inspect|verify|totp> [flags]",
		Short: "Generates keys, signs, inspects and verifies JSON Web Tokens",
		Long: `
Tools for the jwt_auth handler: make a signing key, sign a token for tests
and scripts, decode a token, check a token exactly as the guard does, and
make a user's second-factor (TOTP) secret.

  caddy jwt keygen   a new signing key (PKCS#8 PEM) or HMAC secret
  caddy jwt sign     a signed token from a key and claims
  caddy jwt inspect  decode a token WITHOUT verifying it
  caddy jwt verify   verify a token against keys, as jwt_auth does
  caddy jwt totp     a second-factor secret for a user, with a QR code

Run 'caddy jwt <subcommand> --help' for the flags of each. Every
subcommand exits with status 0 on success and 1 on any failure; verify
names the guard's reason ("token expired", "signature invalid", ...).

Examples:
  $ caddy jwt keygen --alg ES256 --out jwt.pem
  $ caddy jwt sign --key jwt.pem --sub alice --claims '{"roles":["admin"]}' > token
  $ caddy jwt verify --key jwt.pem "$(cat token)"
  $ caddy jwt inspect - < token
`,
		CobraFunc: configureJWTCommand,
	})
}

// configureJWTCommand adds the subcommands to the jwt command. It is the
// command's CobraFunc; tests call it on a fresh command for each run.
func configureJWTCommand(cmd *cobra.Command) {
	cmd.SilenceUsage = true
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		return fmt.Errorf("unknown subcommand %q for %q (keygen, sign, inspect, verify, totp)", args[0], cmd.CommandPath())
	}
	cmd.AddCommand(cmdKeygenCommand(), cmdSignCommand(), cmdInspectCommand(), cmdVerifyCommand(), cmdTOTPCommand())
}

// cmdKeygenCommand is `caddy jwt keygen`.
func cmdKeygenCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "keygen [--alg <alg>] [--out <file>]",
		Short: "Generates a signing key (PKCS#8 PEM) or an HMAC secret",
		Long: `Generates a new signing key and writes it as PKCS#8 PEM, ready for the
key subdirective of jwt_auth and for 'caddy jwt sign --key'. For HS256,
HS384 and HS512 it writes a random secret of 32, 48 or 64 bytes instead,
as base64:<base64>, ready for the secret subdirective (put it in an
environment variable or a file, not in the Caddyfile).

The key id (kid) is written to stderr: the RFC 7638 thumbprint of the
public key, or for a secret the id caddyjwt puts in the tokens it signs.

--alg   ES256 (default), ES384, ES512, EdDSA, RS256, RS384, RS512, PS256,
        PS384, PS512 (the RS and PS algorithms share a 3072-bit RSA key),
        HS256, HS384 or HS512.
--out   the file to write (mode 0600); an existing file is never
        overwritten. Default: stdout.`,
		Example: `  $ caddy jwt keygen --out jwt.pem
  $ caddy jwt keygen --alg EdDSA --out ed25519.pem
  $ caddy jwt keygen --alg HS256 --out jwt.secret   # then: secret {file./path/jwt.secret}`,
		Args: cobra.NoArgs,
		RunE: cmdKeygen,
	}
	c.Flags().String("alg", "ES256", "algorithm of the key")
	c.Flags().String("out", "", "file to write the key to (default: stdout)")
	return c
}

func cmdKeygen(cmd *cobra.Command, _ []string) error {
	flags := cmd.Flags()
	alg, err := canonicalAlg(cmdString(flags.GetString("alg")))
	if err != nil {
		return err
	}
	out := cmdString(flags.GetString("out"))

	var data []byte
	var kid string
	if size, isHMAC := hmacSecretSizes[alg]; isHMAC {
		secret := make([]byte, size)
		if _, err := rand.Read(secret); err != nil {
			return fmt.Errorf("generating a secret: %w", err)
		}
		data = []byte("base64:" + base64.StdEncoding.EncodeToString(secret) + "\n")
		kid = secretKid(secret)
	} else {
		priv, err := generateKey(alg)
		if err != nil {
			return fmt.Errorf("generating a key: %w", err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return fmt.Errorf("encoding the key: %w", err)
		}
		data = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		kid = thumbprint(priv.Public())
	}

	if out == "" {
		if _, err := cmd.OutOrStdout().Write(data); err != nil {
			return fmt.Errorf("writing the key: %w", err)
		}
	} else if err := cmdWriteNewFile(out, data); err != nil {
		return fmt.Errorf("writing the key: %w", err)
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "alg: %s\nkid: %s\n", alg, kid)
	return nil
}

// hmacSecretSizes are the sizes of the secrets keygen makes: the output
// size of each HS algorithm's hash.
var hmacSecretSizes = map[string]int{"HS256": 32, "HS384": 48, "HS512": 64}

// cmdWriteNewFile writes a file that must not exist yet, readable only by
// its owner.
func cmdWriteNewFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s exists; refusing to overwrite it", path)
		}
		return err
	}
	_, err = f.Write(data)
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	return err
}

// cmdSignCommand is `caddy jwt sign`.
func cmdSignCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "sign (--key <file> | --secret <text>) [--alg <alg>] [--kid <kid>] [--sub <subject>] [--claims <json>] [--ttl <duration>]",
		Short: "Signs a token with a key, for tests and scripts",
		Long: `Signs a token and writes it to stdout in compact form. The header has
typ JWT and the key's kid (as jwt_auth's issuer sets it); the claims are
those of --claims, plus iat and nbf (now), exp (now + ttl) and a random
jti, each unless --claims sets it.

--key     a private key file: PEM (PKCS#8, PKCS#1, SEC1) or a JWK (set);
          the first private key in it signs.
--secret  an HMAC secret, as the secret subdirective takes it: the text, or
          base64:<base64>. Placeholders are resolved, so that the secret
          needs not be on the command line: '{env.JWT_SECRET}' or
          '{file./run/secrets/jwt}'.
--alg     the algorithm; it must fit the key. Default: the key's first
          (HS256, RS256, ES256/384/512 or EdDSA).
--kid     the kid header. Default: the key's id (its JWK kid, or its
          RFC 7638 thumbprint; for a secret, caddyjwt's secret id).
--sub     the subject (sub claim); overrides one in --claims.
--claims  a JSON object of claims.
--ttl     the lifetime: exp = now + ttl. Default: 1h. 0 leaves exp out
          (jwt_auth refuses such tokens unless allow_missing_exp); a
          negative ttl makes an expired token, for tests.`,
		Example: `  $ caddy jwt sign --key jwt.pem --sub alice
  $ caddy jwt sign --key jwt.pem --alg PS256 --ttl 10m --claims '{"iss":"https://auth.example.com","aud":"api","roles":["admin"]}'
  $ JWT_SECRET=... caddy jwt sign --secret '{env.JWT_SECRET}' --sub bob --ttl 1d`,
		Args: cobra.NoArgs,
		RunE: cmdSign,
	}
	f := c.Flags()
	f.String("key", "", "private key file (PEM or JWK)")
	f.String("secret", "", "HMAC secret (text, base64:..., or a placeholder such as {env.JWT_SECRET})")
	f.String("alg", "", "signing algorithm (default: the key's first)")
	f.String("kid", "", "kid header (default: the key's id)")
	f.String("sub", "", "subject (sub claim)")
	f.String("claims", "", "claims as a JSON object")
	f.String("ttl", "1h", "lifetime; 0 for no exp")
	c.MarkFlagsMutuallyExclusive("key", "secret")
	c.MarkFlagsOneRequired("key", "secret")
	return c
}

func cmdSign(cmd *cobra.Command, _ []string) error {
	flags := cmd.Flags()
	k, err := cmdSigningKey(cmdString(flags.GetString("key")), cmdString(flags.GetString("secret")))
	if err != nil {
		return err
	}
	alg := k.algs[0]
	if a := cmdString(flags.GetString("alg")); a != "" {
		if alg, err = canonicalAlg(a); err != nil {
			return err
		}
		if !k.serves(alg) {
			return fmt.Errorf("alg %s does not fit the key, which serves %s", alg, strings.Join(k.algs, " "))
		}
	}
	ttl, err := caddy.ParseDuration(cmdString(flags.GetString("ttl")))
	if err != nil {
		return fmt.Errorf("ttl: %w", err)
	}
	claims, err := cmdParseClaims(cmdString(flags.GetString("claims")))
	if err != nil {
		return err
	}
	if sub := cmdString(flags.GetString("sub")); sub != "" {
		claims["sub"] = sub
	}
	t := now()
	setDefault := func(name string, value any) {
		if _, set := claims[name]; !set {
			claims[name] = value
		}
	}
	setDefault("iat", t.Unix())
	setDefault("nbf", t.Unix())
	if ttl != 0 {
		setDefault("exp", t.Add(ttl).Unix())
	}
	setDefault("jti", rand.Text())

	tok := jwt.NewWithClaims(jwt.GetSigningMethod(alg), claims)
	tok.Header["typ"] = "JWT"
	kid := k.kid
	if flags.Changed("kid") {
		kid = cmdString(flags.GetString("kid"))
	}
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(k.signer)
	if err != nil {
		return fmt.Errorf("signing the token: %w", err)
	}
	fmt.Fprintln(cmd.OutOrStdout(), s)
	return nil
}

// cmdSigningKey loads the key that signs: the first private key of a key
// file, or a secret. Errors never echo the secret.
func cmdSigningKey(file, secret string) (*key, error) {
	if file == "" {
		return secretKey(secret)
	}
	keys, err := loadKeyFile(KeyConfig{File: file})
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", file, err)
	}
	for _, k := range keys {
		if k.signer != nil {
			return k, nil
		}
	}
	return nil, fmt.Errorf("key %s: no private key in the file (a public key or certificate cannot sign)", file)
}

// cmdParseClaims decodes --claims: one JSON object, numbers kept as
// their text.
func cmdParseClaims(text string) (jwt.MapClaims, error) {
	claims := jwt.MapClaims{}
	if strings.TrimSpace(text) == "" {
		return claims, nil
	}
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	if err := dec.Decode(&claims); err != nil {
		return nil, fmt.Errorf("claims: not a JSON object: %w", err)
	}
	if claims == nil {
		return nil, errors.New("claims: not a JSON object: null")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("claims: text after the JSON object")
	}
	return claims, nil
}

// cmdReadToken takes the token from the argument, or from stdin for "-",
// without surrounding space or a "Bearer " prefix.
func cmdReadToken(cmd *cobra.Command, arg string) (string, error) {
	tok := arg
	if arg == "-" {
		data, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 1<<20))
		if err != nil {
			return "", fmt.Errorf("reading the token from stdin: %w", err)
		}
		tok = string(data)
	}
	tok = strings.TrimSpace(tok)
	if scheme, rest, found := strings.Cut(tok, " "); found && strings.EqualFold(scheme, "Bearer") {
		tok = strings.TrimSpace(rest)
	}
	if tok == "" {
		return "", errors.New("no token given")
	}
	return tok, nil
}

// cmdWriteJSON writes v as indented JSON.
func cmdWriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("writing JSON: %w", err)
	}
	return nil
}

// canonicalAlg spells an algorithm name as caddyjwt does, whatever its
// case; unknown names are refused with the list of known ones.
func canonicalAlg(alg string) (string, error) {
	i := slices.IndexFunc(allAlgorithms, func(a string) bool { return strings.EqualFold(a, alg) })
	if i < 0 {
		return "", fmt.Errorf("unknown algorithm %q (known: %s)", alg, strings.Join(allAlgorithms, " "))
	}
	return allAlgorithms[i], nil
}

// cmdContext is the command's context, or a background one when the
// command runs outside Execute.
func cmdContext(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

// Flags are declared by the command itself, so their getters cannot fail.
func cmdString(s string, _ error) string      { return s }
func cmdStrings(s []string, _ error) []string { return s }
func cmdBool(b bool, _ error) bool            { return b }
