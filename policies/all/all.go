// Package all registers every builtin chain policy. Import it for its side
// effect wherever chains are built from configuration:
//
//	import _ "github.com/verdict-policy/verdict/policies/all"
package all

import (
	_ "github.com/verdict-policy/verdict/policies/apicast"
	_ "github.com/verdict-policy/verdict/policies/authorize"
	_ "github.com/verdict-policy/verdict/policies/conditional"
	_ "github.com/verdict-policy/verdict/policies/cors"
	_ "github.com/verdict-policy/verdict/policies/default_credentials"
	_ "github.com/verdict-policy/verdict/policies/echo"
	_ "github.com/verdict-policy/verdict/policies/headers"
	_ "github.com/verdict-policy/verdict/policies/ip_check"
	_ "github.com/verdict-policy/verdict/policies/jwt"
	_ "github.com/verdict-policy/verdict/policies/jwt_claim_check"
	_ "github.com/verdict-policy/verdict/policies/logging"
	_ "github.com/verdict-policy/verdict/policies/maintenance_mode"
	_ "github.com/verdict-policy/verdict/policies/on_failed"
	_ "github.com/verdict-policy/verdict/policies/payload_limits"
	_ "github.com/verdict-policy/verdict/policies/phase_logger"
	_ "github.com/verdict-policy/verdict/policies/rate_limit"
	_ "github.com/verdict-policy/verdict/policies/retry"
	_ "github.com/verdict-policy/verdict/policies/rewrite_url_captures"
	_ "github.com/verdict-policy/verdict/policies/routing"
	_ "github.com/verdict-policy/verdict/policies/statuscode_overwrite"
	_ "github.com/verdict-policy/verdict/policies/tls"
	_ "github.com/verdict-policy/verdict/policies/tls_validation"
	_ "github.com/verdict-policy/verdict/policies/upstream"
	_ "github.com/verdict-policy/verdict/policies/upstream_connection"
	_ "github.com/verdict-policy/verdict/policies/url_rewriting"
)
