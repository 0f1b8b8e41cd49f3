// Package threescale talks to 3scale's Service Management API (the
// "backend") the way APIcast does, for the gateway's apicast and
// 3scale_batcher chain policies.
//
// It owns the backend protocol and the state around it: the Client (the
// authorize, authrep, oauth_* and report calls, their query parameters,
// the 3scale-options extensions, a kept-alive connection pool, timeouts),
// the Result of a call (the <status> and <error> documents, the rejection
// reason and limit headers, classified by status), and the Authorizer,
// which puts a cache in front of the backend and reports usage, in
// APIcast's two ways (Mode) and with its cache handlers (CacheMode). The
// caches and batched reports live in this process or, to be shared by
// several instances, in a store (Redis).
//
// It leaves to the chain policy everything about the HTTP request:
// extracting credentials, matching mapping rules into a Usage, the answers
// to the client (401, 403, 404, 429 with Retry-After, the configured
// bodies), failing open or closed when the backend is unreachable, and the
// phase in which each call is made.
//
// # How the apicast policy uses it
//
// At load, once per distinct backend endpoint and per service (svc stands
// for the service's configuration):
//
//	client, err := threescale.NewClient(threescale.ClientOptions{
//		Endpoint: svc.Backend.Endpoint, // proxy.backend.endpoint
//		Host:     svc.Backend.Host,     // proxy.backend.host
//	})
//	version, err := threescale.ParseVersion(svc.BackendVersion)
//	auth, err := threescale.ParseAuthType(svc.BackendAuthenticationType)
//	service, err := threescale.NewService(threescale.ServiceConfig{
//		ID: svc.ID, Version: version, AuthType: auth,
//		AuthValue: svc.BackendAuthenticationValue,
//		OIDC:      svc.AuthenticationMethod == "oidc",
//	}, client)
//
// and one Authorizer per process for the apicast policy (and one per
// 3scale_batcher policy instance, with Mode: ModeBatch, AuthsTTL and
// BatchInterval from its configuration), with Store set when the
// configured store is Redis:
//
//	authz, err := threescale.New(threescale.Options{Caching: handler, Store: shared})
//
// Per request, in the access phase, after the rewrite phase has filled the
// credentials and the usage:
//
//	req := &threescale.Request{Service: service, Credentials: creds, Usage: usage}
//	d := authz.Authorize(ctx, req)
//	switch {
//	case d.Allowed:
//		// go on; keep req and d for post_action
//	case d.Unavailable && failOpen:
//		// the backend is down and nothing is cached: let it through
//	default:
//		// answer d.Status (429 with Retry-After: d.RetryAfter, or 403)
//	}
//
// and in post_action, with the status the client got:
//
//	authz.Report(req, d, status)
//
// On reload or shutdown the old authorizer is closed, which sends the
// pending reports: authz.Close(ctx).
//
// # Modes and caching
//
// ModeAuthrep (the apicast policy): an authorization the cache holds lets
// the request through at once and is reported afterwards by an authrep
// call whose answer updates the cache; any other request waits for a
// synchronous authrep. CacheStrict (the default) caches only granted
// authorizations and drops one on any other answer, an unreachable backend
// included; CacheResilient keeps the last answer through an outage;
// CacheAllow also grants what was never denied while the backend is down;
// CacheNone always asks. When the backend cannot be reached, the cache as
// the mode left it decides; with nothing cached the request is denied and
// Decision.Unavailable is set.
//
// ModeBatch (the 3scale_batcher policy): answers, granted and denied, are
// cached for AuthsTTL and asked for with authorize calls; the usage of
// granted requests is added up per application and metric and reported
// every BatchInterval with one report call per service, and on Close. The
// cache mode then governs only the fallback used when the backend is down.
//
// # Differences from APIcast
//
//   - Cache keys escape every part, so credentials containing the
//     separator cannot collide (APIcast joins raw values with ':').
//   - With a Redis store, every instance sees the same cached answers and
//     the same batched counts, which any instance reports, once; a count
//     the store cannot take is kept and reported by the instance itself.
//     APIcast shares them between the workers of one host only.
//   - In batch mode, requests that miss the cache together share one
//     authorize call; APIcast asks once per request until the answer is
//     cached.
//   - Reports are split so that no call carries more than 1000 form
//     parameters; a report the backend refuses (4xx) is dropped and
//     logged rather than retried forever.
//   - A limit of 0 (a metric the plan disables) is answered 403 in batch
//     mode too, as the apicast policy already does.
//   - The backend's certificate is verified; redirects are not followed.
//   - A request whose context ends while the backend is asked leaves the
//     cache as it was.
package threescale
