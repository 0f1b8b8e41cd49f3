package authz

import (
	"context"
	"net"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	grpcstatus "google.golang.org/grpc/status"
)

// grpcClient serves d's gRPC services on a loopback port and returns a
// real client connected to it.
func grpcClient(t *testing.T, d *Door) authv3.AuthorizationClient {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	d.RegisterGRPC(srv)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return authv3.NewAuthorizationClient(conn)
}

func checkRequest(method, path string, headers map[string]string, body string) *authv3.CheckRequest {
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: "203.0.113.9"}}}},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: method, Path: path, Host: "shop.example.com", Scheme: "https", Headers: headers, Body: body,
		}},
	}}
}

func headerMap(opts []*corev3.HeaderValueOption) map[string]string {
	m := map[string]string{}
	for _, o := range opts {
		m[o.GetHeader().GetKey()] = o.GetHeader().GetValue() + "|" + o.GetAppendAction().String()
	}
	return m
}

func TestGRPCCheck(t *testing.T) {
	client := grpcClient(t, loadDoor(t, nil, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	t.Run("allow with mutations", func(t *testing.T) {
		res, err := client.Check(ctx, checkRequest("DELETE", "/orders/1", map[string]string{"authorization": "Bearer " + testToken(t, "dan")}, ""))
		if err != nil {
			t.Fatal(err)
		}
		ok := res.GetOkResponse()
		if res.GetStatus().GetCode() != int32(code.Code_OK) || ok == nil {
			t.Fatalf("not an allow: %v", res)
		}
		h := headerMap(ok.GetHeaders())
		if h["x-user"] != "dan|OVERWRITE_IF_EXISTS_OR_ADD" || h["x-client-ip"] != "203.0.113.9|OVERWRITE_IF_EXISTS_OR_ADD" {
			t.Errorf("headers %v", h)
		}
		if len(ok.GetHeadersToRemove()) != 1 || ok.GetHeadersToRemove()[0] != "authorization" {
			t.Errorf("headers_to_remove %v", ok.GetHeadersToRemove())
		}
		if r := headerMap(ok.GetResponseHeadersToAdd()); r["x-authorized-by"] != "verdict|OVERWRITE_IF_EXISTS_OR_ADD" {
			t.Errorf("response_headers_to_add %v", r)
		}
	})
	t.Run("append", func(t *testing.T) {
		res, err := client.Check(ctx, checkRequest("GET", "/search?q=verdict", nil, ""))
		if err != nil {
			t.Fatal(err)
		}
		if h := headerMap(res.GetOkResponse().GetHeaders()); h["x-trace"] != "search-q=verdict|APPEND_IF_EXISTS_OR_ADD" {
			t.Fatalf("%v", res)
		}
	})
	denials := []struct {
		name, method, path string
		code               code.Code
		status             int
		headers            map[string]string
		body               string
	}{
		{"401 with challenge", "POST", "/orders", code.Code_UNAUTHENTICATED, 401,
			map[string]string{"www-authenticate": `Bearer realm="test"|OVERWRITE_IF_EXISTS_OR_ADD`}, "sign in first"},
		{"403 with JSON", "PUT", "/json-deny", code.Code_PERMISSION_DENIED, 403,
			map[string]string{"content-type": "application/json|OVERWRITE_IF_EXISTS_OR_ADD", "x-deny-reason": "json-deny|OVERWRITE_IF_EXISTS_OR_ADD"},
			`{"error":{"code":"forbidden","message":"no PUT on /json-deny"}}`},
		{"302 with location", "GET", "/login-first", code.Code_PERMISSION_DENIED, 302,
			map[string]string{"location": "https://login.example.com/?next=/login-first|OVERWRITE_IF_EXISTS_OR_ADD"}, ""},
		{"bad obligation", "GET", "/broken", code.Code_PERMISSION_DENIED, 403, map[string]string{}, ""},
	}
	for _, c := range denials {
		t.Run(c.name, func(t *testing.T) {
			res, err := client.Check(ctx, checkRequest(c.method, c.path, nil, ""))
			if err != nil {
				t.Fatal(err)
			}
			den := res.GetDeniedResponse()
			if res.GetStatus().GetCode() != int32(c.code) || den == nil {
				t.Fatalf("got %v", res)
			}
			if int(den.GetStatus().GetCode()) != c.status || den.GetBody() != c.body {
				t.Errorf("status %v body %q", den.GetStatus().GetCode(), den.GetBody())
			}
			if h := headerMap(den.GetHeaders()); len(h) != len(c.headers) {
				t.Errorf("headers %v, want %v", h, c.headers)
			} else {
				for k, v := range c.headers {
					if h[k] != v {
						t.Errorf("header %s = %q, want %q", k, h[k], v)
					}
				}
			}
		})
	}
	t.Run("no http attributes", func(t *testing.T) {
		_, err := client.Check(ctx, &authv3.CheckRequest{})
		if grpcstatus.Code(err) != codes.InvalidArgument {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("not configured", func(t *testing.T) {
		_, err := grpcClient(t, New(nil, nil)).Check(ctx, checkRequest("GET", "/", nil, ""))
		if grpcstatus.Code(err) != codes.Unavailable {
			t.Fatalf("err = %v", err)
		}
	})
}
