package pexip

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/verdict-policy/verdict/config"
)

// exampleDoor serves examples/pexip/verdict.yaml.
func exampleDoor(t testing.TB) *Door {
	t.Helper()
	return loadDoor(t, "../examples/pexip/verdict.yaml")
}

func loadDoor(t testing.TB, file string) *Door {
	t.Helper()
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := cfg.Compile()
	if err != nil {
		t.Fatal(err)
	}
	d := New(nil, prometheus.NewRegistry())
	install, err := d.Prepare(cfg, docs)
	if err != nil {
		t.Fatal(err)
	}
	install()
	t.Cleanup(func() { d.Close() })
	return d
}

func serve(d http.Handler, method, target string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	d.ServeHTTP(w, httptest.NewRequest(method, target, nil))
	return w
}

// Requests as Infinity sends them (from the spec's examples), with the
// whole answer each must get from the example configuration.
func TestExampleAnswers(t *testing.T) {
	d := exampleDoor(t)
	const sc = "/policy/v1/service/configuration?"
	const pp = "/policy/v1/participant/properties?"
	const ml = "/policy/v1/participant/location?"
	tests := []struct {
		name   string
		target string
		status int
		body   string
	}{
		{"SIP v16 example, VMR by bare user part", sc + "protocol=sip&node_ip=10.44.99.2&registered=False&remote_address=10.44.75.249&version_id=16&bandwidth=0&pseudo_version_id=36402.0.0&vendor=TANDBERG%2F518+%28TC6.0.1.65adebe%29&local_alias=meet.alice&remote_port=58435&call_direction=dial_in&remote_alias=sip%3Aalice%40example.com&remote_display_name=Alice&trigger=invite&location=London",
			200, `{"status":"success","action":"continue","result":{"service_type":"conference","name":"meet.alice","service_tag":"vmr","description":"Alice's room","pin":"1234","guest_pin":"5678","allow_guests":true,"view":"one_main_seven_pips"}}`},
		{"Skype for Business, scheme and domain", sc + "P-Asserted-Identity=%22Alice%22%3Csip%3Aalice%40example.com%3E&protocol=mssip&vendor=UCCAPI%2F16.0.7967.5277+OC%2F16.0.7967.2139+%28Skype+for+Business%29&local_alias=sip%3Ameet.bob%40example.com&remote_port=63726&call_direction=dial_in&remote_alias=sip%3Aalice%40example.com&remote_display_name=Alice&trigger=invite&location=London",
			200, `{"status":"success","action":"continue","result":{"service_type":"conference","name":"meet.bob","service_tag":"vmr","description":"Bob's room","pin":"4321","allow_guests":false,"view":"four_mains_zero_pips","participant_limit":10}}`},
		{"v35 example with empty keys and URI parameters", sc + "call_direction=dial_in&protocol=sip&bandwidth=0&vendor=Cisco%2FCE&encryption=On&registered=False&trigger=invite&remote_display_name=Alice&remote_alias=sip%3Aalice%40example.com&remote_address=10.44.151.5&remote_port=58435&call_tag=&idp_uuid=&has_authenticated_display_name=False&supports_direct_media=False&teams_tenant_id=&location=London&node_ip=10.144.101.21&version_id=35&pseudo_version_id=77683.0.0&local_alias=sip%3Aboardroom%40Example.com%3Btransport%3Dtls",
			200, `{"status":"success","action":"continue","result":{"service_type":"conference","name":"boardroom","service_tag":"vmr","description":"The boardroom","pin":"2468","guest_pin":"1357","allow_guests":true,"view":"five_mains_seven_pips","participant_limit":25}}`},
		{"WebRTC API probe then webrtc give the same name", sc + "protocol=api&local_alias=meet.alice&call_direction=dial_in&trigger=web&remote_address=192.168.1.20",
			200, `{"status":"success","action":"continue","result":{"service_type":"conference","name":"meet.alice","service_tag":"vmr","description":"Alice's room","pin":"1234","guest_pin":"5678","allow_guests":true,"view":"one_main_seven_pips"}}`},
		{"H.323 with h323: scheme, E.164 to the gateway", sc + "protocol=h323&local_alias=h323%3A%2B4420790000&remote_alias=1001&call_direction=dial_in&trigger=setup",
			200, `{"status":"success","action":"continue","result":{"service_type":"gateway","name":"pstn-+4420790000","service_tag":"pstn","local_alias":"1001","remote_alias":"sip:+4420790000@sbc.example.com","outgoing_protocol":"sip","call_type":"audio"}}`},
		{"non_dial probe to a number does not open the gateway", sc + "protocol=sip&local_alias=%2B4420790000&call_direction=non_dial&trigger=options",
			404, `{"status":"fail","action":"continue","result":{}}`},
		{"dial-out from a VMR keeps the VMR", sc + "protocol=sip&local_alias=meet.bob&remote_alias=sip%3Acarol%40example.com&call_direction=dial_out&trigger=unspecified&service_name=meet.bob",
			200, `{"status":"success","action":"continue","result":{"service_type":"conference","name":"meet.bob","service_tag":"vmr","description":"Bob's room","pin":"4321","allow_guests":false,"view":"four_mains_zero_pips","participant_limit":10}}`},
		{"redirect of an old alias", sc + "protocol=sip&local_alias=sip%3Aold-boardroom%40example.com&call_direction=dial_in",
			200, `{"status":"success","action":"redirect","result":{"new_alias":"sip:boardroom@example.com"}}`},
		{"blocked network is rejected", sc + "protocol=sip&local_alias=meet.alice&remote_address=203.0.113.9&call_direction=dial_in",
			200, `{"status":"success","action":"reject","result":{}}`},
		{"unknown alias falls back", sc + "protocol=webrtc&local_alias=meet.nobody",
			404, `{"status":"fail","action":"continue","result":{}}`},
		{"missing local_alias falls back", sc + "protocol=sip",
			404, `{"status":"fail","action":"continue","result":{}}`},
		{"participant with IdP groups, repeated attribute", pp + "participant_type=standard&local_alias=meet.alice&remote_address=10.1.2.3&idp_attribute_groups=staff&idp_attribute_groups=interpreters&service_tag=vmr&preauthenticated_role=&bypass_lock=False",
			200, `{"status":"success","action":"continue","result":{"call_tag":"interpreter","preauthenticated_role":"guest","rx_presentation_policy":"DENY"}}`},
		{"participant without clearance is rejected with a reason", pp + "participant_type=standard&service_tag=secret&idp_attribute_clearance=internal&remote_address=10.1.2.3",
			200, `{"status":"success","action":"reject","result":{"reject_reason":"This meeting needs clearance"}}`},
		{"external participant is relabelled", pp + "participant_type=api&remote_display_name=Dana&remote_address=198.51.100.7&service_tag=vmr",
			200, `{"status":"success","action":"continue","result":{"remote_display_name":"Dana (external)"}}`},
		{"internal participant: nothing to change", pp + "participant_type=standard&remote_display_name=Eve&remote_address=10.9.9.9",
			200, `{"status":"success","action":"continue"}`},
		{"media location by subnet, overflow as fields", ml + "local_alias=meet.alice&remote_address=10.44.75.249&protocol=sip&request_id=644d4edc",
			200, `{"status":"success","result":{"location":"London","primary_overflow_location":"Oslo","secondary_overflow_location":"Cloud"}}`},
		{"media location unknown subnet falls back", ml + "local_alias=meet.alice&remote_address=172.16.0.1",
			404, `{"status":"fail","action":"continue","result":{}}`},
		{"registration with credentials", "/policy/v1/registrations/room1%40example.com?protocol=sip&remote_address=10.44.1.1&node_ip=10.44.99.2&auth_type=%22credentials%22",
			200, `{"status":"success","action":"continue","result":{"username":"room1","password":"s3cret-room1"}}`},
		{"registration of a SIP URI form", "/policy/v1/registrations/sip%3Aroom2%40example.com?protocol=sip",
			200, `{"status":"success","action":"continue","result":{"username":"room2","password":"s3cret-room2"}}`},
		{"registration without credentials", "/policy/v1/registrations/lobby.tablet?protocol=webrtc",
			200, `{"status":"success","action":"continue","result":{"username":"","password":""}}`},
		{"registration of a foreign domain is rejected", "/policy/v1/registrations/mallory%40evil.example?protocol=sip",
			200, `{"status":"success","action":"reject","result":{}}`},
		{"unknown device of our domain falls back", "/policy/v1/registrations/room9%40example.com?protocol=sip",
			404, `{"status":"fail","action":"continue","result":{}}`},
		{"directory search", "/policy/v1/registrations?q=AL&registration_alias=room1%40example.com&limit=10",
			200, `{"status":"success","result":[{"username":"alice","alias":"alice@example.com","description":"Alice Parkes"},{"username":"carol","alias":"carol@example.com","description":"Carol Alvarez"}],"ignore_local":false}`},
		{"directory with a limit", "/policy/v1/registrations?q=&limit=1",
			200, `{"status":"success","result":[{"username":"alice","alias":"alice@example.com","description":"Alice Parkes"}],"ignore_local":false}`},
		{"directory, nothing matches", "/policy/v1/registrations?q=zed&limit=10",
			200, `{"status":"success","result":[],"ignore_local":false}`},
		{"duplicate slashes and trailing slash, no redirect", "//policy//v1/service/configuration/?local_alias=meet.alice",
			200, `{"status":"success","action":"continue","result":{"service_type":"conference","name":"meet.alice","service_tag":"vmr","description":"Alice's room","pin":"1234","guest_pin":"5678","allow_guests":true,"view":"one_main_seven_pips"}}`},
		{"repeated local_alias takes the first", sc + "local_alias=meet.bob&local_alias=meet.alice",
			200, `{"status":"success","action":"continue","result":{"service_type":"conference","name":"meet.bob","service_tag":"vmr","description":"Bob's room","pin":"4321","allow_guests":false,"view":"four_mains_zero_pips","participant_limit":10}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(d, http.MethodGet, tt.target)
			if w.Code != tt.status || w.Body.String() != tt.body {
				t.Errorf("got %d %s\nwant %d %s", w.Code, w.Body, tt.status, tt.body)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}

// Bad input gets a clear 4xx that names the problem, never a 5xx.
func TestBadInput(t *testing.T) {
	d := exampleDoor(t)
	tests := []struct {
		name, method, target string
		status               int
		want                 string
	}{
		{"bad percent-encoding", "GET", "/policy/v1/service/configuration?local_alias=%zz", 400, "invalid_query"},
		{"huge query", "GET", "/policy/v1/service/configuration?local_alias=" + strings.Repeat("a", 20000), 414, "query_too_long"},
		{"POST", "POST", "/policy/v1/service/configuration", 405, "method_not_allowed"},
		{"DELETE on the directory", "DELETE", "/policy/v1/registrations", 405, "method_not_allowed"},
		{"unknown path", "GET", "/policy/v1/service/other", 404, "not_found"},
		{"outside the prefix", "GET", "/policy/v2/service/configuration", 404, "not_found"},
		{"avatar without width", "GET", "/policy/v1/participant/avatar/alice%40example.com?height=40", 400, "width is required"},
		{"avatar with a huge height", "GET", "/policy/v1/participant/avatar/alice%40example.com?width=40&height=99999", 400, "height must be a whole number"},
		{"directory with a bad limit", "GET", "/policy/v1/registrations?q=a&limit=ten", 400, "limit must be a whole number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(d, tt.method, tt.target)
			if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.want) {
				t.Errorf("got %d %s, want %d containing %q", w.Code, w.Body, tt.status, tt.want)
			}
		})
	}
}
