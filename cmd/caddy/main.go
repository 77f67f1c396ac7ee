// Command caddy is Caddy with the standard modules and caddyjwt, the same
// binary that `xcaddy build --with github.com/caddyjwt/caddyjwt` makes.
//
//	go run ./cmd/caddy run --config example/Caddyfile
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddyjwt/caddyjwt"
)

func main() {
	caddycmd.Main()
}
