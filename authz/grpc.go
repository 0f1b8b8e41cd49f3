package authz

import (
	"context"
	"net"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/genproto/googleapis/rpc/code"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
)

// RegisterGRPC adds Envoy's envoy.service.auth.v3.Authorization service to
// a gRPC server. It decides with the envoy adapter's document.
func (d *Door) RegisterGRPC(s grpc.ServiceRegistrar) {
	authv3.RegisterAuthorizationServer(s, grpcAuthorization{d: d})
}

type grpcAuthorization struct {
	authv3.UnimplementedAuthorizationServer
	d *Door
}

// Check implements envoy.service.auth.v3.Authorization/Check. Allow is
// status OK with an OkHttpResponse carrying the header mutations; deny is
// PERMISSION_DENIED (UNAUTHENTICATED for 401) with a DeniedHttpResponse
// carrying the status, headers and body. A request without HTTP attributes
// is an InvalidArgument error.
func (g grpcAuthorization) Check(ctx context.Context, in *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	s := g.d.snap.Load()
	if s == nil || s.envoy == nil {
		return nil, grpcstatus.Error(codes.Unavailable, "the envoy adapter is not configured (authz.envoy.policy)")
	}
	httpReq := in.GetAttributes().GetRequest().GetHttp()
	if httpReq == nil {
		g.d.metrics.invalid(adEnvoyGRPC)
		return nil, grpcstatus.Error(codes.InvalidArgument, "attributes.request.http is required")
	}
	c := g.d.getCall(s)
	defer g.d.putCall(c)
	req := &c.req
	req.Method = httpReq.GetMethod()
	req.Path, req.RawQuery = splitURI(httpReq.GetPath())
	req.Host = httpReq.GetHost()
	req.Scheme = httpReq.GetScheme()
	req.GRPCHeader = httpReq.GetHeaders()
	if req.GRPCHeader == nil {
		req.GRPCHeader = map[string]string{}
		for _, h := range httpReq.GetHeaderMap().GetHeaders() {
			v := h.GetValue()
			if v == "" {
				v = string(h.GetRawValue())
			}
			req.GRPCHeader[strings.ToLower(h.GetKey())] = v
		}
	}
	if raw := httpReq.GetRawBody(); raw != nil {
		req.Body = raw
	} else if b := httpReq.GetBody(); b != "" {
		req.Body = []byte(b)
	}
	if sa := in.GetAttributes().GetSource().GetAddress().GetSocketAddress(); sa != nil {
		req.ClientIP = sa.GetAddress()
	}
	if xff := req.GRPCHeader["x-forwarded-for"]; xff != "" {
		if i := strings.LastIndexByte(xff, ','); i >= 0 {
			xff = xff[i+1:]
		}
		if ip := strings.TrimSpace(xff); net.ParseIP(ip) != nil {
			req.ClientIP = ip
		}
	}
	o := &c.out
	g.d.decide(s.envoy, req, o, adEnvoyGRPC)
	if o.Allow {
		ok := &authv3.OkHttpResponse{}
		for _, f := range o.SetRequest {
			ok.Headers = append(ok.Headers, headerOption(f, corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD))
		}
		for _, f := range o.AppendRequest {
			ok.Headers = append(ok.Headers, headerOption(f, corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD))
		}
		for _, f := range o.SetResponse {
			ok.ResponseHeadersToAdd = append(ok.ResponseHeadersToAdd, headerOption(f, corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD))
		}
		ok.HeadersToRemove = append(ok.HeadersToRemove, lower(o.RemoveRequest)...)
		return &authv3.CheckResponse{
			Status:       &rpcstatus.Status{Code: int32(code.Code_OK)},
			HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: ok},
		}, nil
	}
	st := o.Status
	if st < 300 || st >= 600 {
		st = 403
	}
	denied := &authv3.DeniedHttpResponse{Status: &typev3.HttpStatus{Code: typev3.StatusCode(st)}, Body: o.Body}
	for _, f := range o.SetResponse {
		denied.Headers = append(denied.Headers, headerOption(f, corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD))
	}
	if o.Location != "" {
		denied.Headers = append(denied.Headers, headerOption(Field{Name: "location", Value: o.Location}, corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD))
	}
	if o.Body != "" && o.JSONBody {
		denied.Headers = append(denied.Headers, headerOption(Field{Name: "content-type", Value: "application/json"}, corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD))
	}
	rc := code.Code_PERMISSION_DENIED
	if st == 401 {
		rc = code.Code_UNAUTHENTICATED
	}
	return &authv3.CheckResponse{
		Status:       &rpcstatus.Status{Code: int32(rc)},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: denied},
	}, nil
}

func headerOption(f Field, action corev3.HeaderValueOption_HeaderAppendAction) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{
		Header:       &corev3.HeaderValue{Key: strings.ToLower(f.Name), Value: f.Value},
		AppendAction: action,
	}
}

func lower(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strings.ToLower(n)
	}
	return out
}
