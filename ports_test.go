package caddyjwt_test

import (
	"fmt"

	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/caddyjwt/caddyjwt"
)

// The in-process test Caddy listens on admin 2999, HTTP 9080 and HTTPS
// 9443, each moved by CADDYJWT_TEST_PORT_OFFSET (see caddyjwt.PortOffset).
var portOffset = caddyjwt.PortOffset

var (
	adminAddr = fmt.Sprintf("localhost:%d", 2999+portOffset)
	httpPort  = 9080 + portOffset
	httpsPort = 9443 + portOffset
	// siteHost is the host:port of the test site; baseURL its URL.
	siteHost = fmt.Sprintf("localhost:%d", httpPort)
	baseURL  = "http://" + siteHost
)

func init() { caddytest.Default.AdminPort = 2999 + portOffset }
