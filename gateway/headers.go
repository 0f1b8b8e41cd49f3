package gateway

import (
	"net/http"
	"strings"

	"github.com/verdict-policy/verdict/internal/httpx"
)

// The request's header fields are readied in two steps. Before the chain
// runs, fields that must not reach anyone are taken out of the client's
// request: names with '_' (unless allowed), and the fields the client's
// Connection header names, which belong to the client's connection only.
// Removing those later would also remove what the policies set under the
// same names (the secret token, a headers policy's values). After the
// chain, when the request goes upstream, the standard hop-by-hop fields
// and X-3scale-Debug are removed whatever set them; the names the client
// listed are not looked at again.

// dropUnderscoreNames removes the fields whose name holds '_', as nginx
// does by default (underscores_in_headers off): a CGI-style upstream that
// folds '_' and '-' together would read X_Real_IP as X-Real-IP, or
// Transfer_Encoding as framing. The scan costs a byte search per name.
func dropUnderscoreNames(h http.Header) {
	for k := range h {
		if strings.IndexByte(k, '_') >= 0 {
			delete(h, k)
		}
	}
}

// dropConnectionNamed removes the fields that the Connection header names.
// close and keep-alive are connection options rather than field names; the
// Connection and Keep-Alive fields themselves go with the standard set.
func dropConnectionNamed(h http.Header) { httpx.RemoveConnectionNamed(h) }

// debugHeader is APIcast's debug request header; it asks the gateway for
// debug answers and never goes upstream.
const debugHeader = "X-3scale-Debug"

// stripForUpstream removes what never goes upstream, whoever set it: the
// standard hop-by-hop fields and X-3scale-Debug.
func stripForUpstream(h http.Header) {
	httpx.RemoveHopByHop(h)
	delete(h, debugHeader)
}
