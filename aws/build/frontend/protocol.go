package frontend

import (
	"slices"

	"github.com/istio-alb-operator/istio-alb-operator/aws/model"
)

// Route kinds of the Gateway API that decide a listener's protocol version.
const (
	KindHTTPRoute = "HTTPRoute"
	KindGRPCRoute = "GRPCRoute"
)

// ProtocolVersions are the target-group protocol versions the server's clients need: GRPC for an
// Istio server of protocol GRPC, HTTP2 for one of protocol HTTP2, HTTP1 for the other protocols;
// for a Gateway API listener, GRPC for its GRPCRoutes and HTTP1 for its HTTPRoutes (HTTP1 when no
// route is attached). Sorted.
func (s Server) ProtocolVersions() []string {
	switch s.Protocol {
	case "GRPC":
		return []string{model.ProtocolVersionGRPC}
	case "HTTP2":
		return []string{model.ProtocolVersionHTTP2}
	}
	var out []string
	for _, k := range s.RouteKinds {
		if k == KindGRPCRoute {
			out = append(out, model.ProtocolVersionGRPC)
		} else {
			out = append(out, model.ProtocolVersionHTTP1)
		}
	}
	if len(out) == 0 {
		return []string{model.ProtocolVersionHTTP1}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// BackendServers are the servers whose traffic the ALB carries: those on the Service port
// Backend chooses (they share the gateway's listener there, and so the ALB's target group), of
// the kind it chooses (plain HTTP, or TLS the ALB terminates). None when there is no backend.
func (f *Frontend) BackendServers() []Server {
	port, protocol, err := f.Backend()
	if err != nil {
		return nil
	}
	var out []Server
	for _, s := range f.Servers {
		sp, ok := f.servicePortFor(s.Port)
		if !ok || sp != port {
			continue
		}
		if (protocol == "HTTP" && isPlainHTTP(s.Protocol)) || (protocol == "HTTPS" && s.Terminable()) {
			out = append(out, s)
		}
	}
	return out
}
