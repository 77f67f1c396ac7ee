#!/usr/bin/env bash
# Mints an HS256 token with openssl, for trying the example.
#
#	example/mint-token.sh [secret] [claims-json] [ttl-seconds]
#
# Defaults: the example's DEMO secret, {"sub":"alice"}, one hour. exp and
# iat are added, and iss (the example's issuer, http://localhost:8080, or
# $ISSUER) unless the claims name one: the example's keys speak only for
# its issuer. Only for tests: tokens for real users come from an issuer.
set -euo pipefail
secret=${1:-demo-only-secret-do-not-use-0123456789}
claims=${2:-'{"sub":"alice"}'}
ttl=${3:-3600}
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
now=$(date +%s)
header=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
body=${claims%\}}   # the claims without their closing brace
[[ $body =~ ^[[:space:]]*\{[[:space:]]*$ ]] || body+=","
[[ $claims == *'"iss"'* ]] || body+="\"iss\":\"${ISSUER:-http://localhost:8080}\","
payload=$(printf '%s"iat":%d,"exp":%d}' "$body" "$now" $((now + ttl)) | b64url)
signature=$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -hmac "$secret" -binary | b64url)
printf '%s.%s.%s\n' "$header" "$payload" "$signature"
