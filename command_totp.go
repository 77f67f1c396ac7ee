package caddyjwt

import (
	"errors"
	"fmt"
	"os"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/skip2/go-qrcode"
	"github.com/spf13/cobra"
)

// cmdTOTPCommand is `caddy jwt totp`.
func cmdTOTPCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "totp [--issuer <name>] [--qr=false] [--invert] <user>",
		Short: "Makes a TOTP secret for a user, with its otpauth:// URI and a QR code",
		Long: `Makes a new second-factor secret for a user of the users file: 160
random bits in base32, for RFC 6238 codes (SHA-1, 6 digits, 30 s), as
jwt_auth checks them. It prints the secret and the users-file line to put
it in, the otpauth:// URI that authenticator apps read, and that URI as a
QR code drawn in the terminal, to scan with the app.

The secret is shown once and is not stored anywhere: put it in the users
file ("totp": "<secret>" in the user's entry) and keep the file readable
only by Caddy.

--issuer  the name the app shows above the code. Default: this machine's
          host name.
--qr      draw the QR code. Default: true.
--invert  draw the QR code for a terminal with a light background.`,
		Example: `  $ caddy jwt totp alice
  $ caddy jwt totp --issuer auth.example.com alice`,
		Args: cobra.ExactArgs(1),
		RunE: cmdTOTP,
	}
	f := c.Flags()
	f.String("issuer", "", "the name the authenticator app shows (default: the host name)")
	f.Bool("qr", true, "draw the QR code in the terminal")
	f.Bool("invert", false, "QR code for a light terminal background")
	return c
}

func cmdTOTP(cmd *cobra.Command, args []string) error {
	flags := cmd.Flags()
	user := args[0]
	if user == "" {
		return errors.New("a user name is needed")
	}
	if err := checkUserName(user); err != nil {
		return fmt.Errorf("user %s: bad name: %w", quoteUserName(user), err)
	}
	issuer := cmdString(flags.GetString("issuer"))
	if issuer == "" {
		issuer = defaultTOTPIssuer()
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: issuer, AccountName: user, SecretSize: 20,
		Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		return fmt.Errorf("making the secret: %w", err)
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "secret: %s\nusers file: add \"totp\": %q to the entry of %q\nuri: %s\n",
		key.Secret(), key.Secret(), user, key.URL())
	if !cmdBool(flags.GetBool("qr")) {
		return nil
	}
	qr, err := qrcode.New(key.URL(), qrcode.Medium)
	if err != nil {
		return fmt.Errorf("drawing the QR code: %w", err)
	}
	fmt.Fprintf(out, "\n%s", qr.ToSmallString(cmdBool(flags.GetBool("invert"))))
	return nil
}

// defaultTOTPIssuer is the name an authenticator app shows when --issuer
// is not given: the host name, else "Caddy".
func defaultTOTPIssuer() string {
	if host, err := os.Hostname(); err == nil && host != "" {
		return host
	}
	return "Caddy"
}
