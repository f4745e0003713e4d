package health

import "github.com/istio-alb-operator/istio-alb-operator/aws/model"

// The health check of a target group of protocol version GRPC. The ALB's health check of such a
// group is itself a gRPC call (HTTP/2, with the matcher read as gRPC status codes), and Istio's
// readiness endpoint answers HTTP only (200 or 503, no grpc-status), so it cannot be asked
// /healthz/ready. It calls a method nobody serves on the same status port instead: the status
// port is an Envoy listener that accepts HTTP/2 (codec AUTO) and answers a path it has no route
// for with 404, which Envoy turns into grpc-status 12 (UNIMPLEMENTED) for a gRPC request. Through
// the nodePort, kube-proxy sends it only to Ready gateway pods, so 12 says what the HTTP check
// says: a ready gateway pod answers behind this node.
const (
	// GRPCPath is AWS's default gRPC health check method, which nothing implements.
	GRPCPath = "/AWS.ALB/healthcheck"
	// GRPCSuccessCode is UNIMPLEMENTED, the answer to a method nobody serves.
	GRPCSuccessCode = "12"
)

// ForProtocolVersion adapts a derived health check to the target group's protocol version: for
// GRPC the path and matcher become GRPCPath and GRPCSuccessCode unless the user set them. HTTP1
// and HTTP2 keep the readiness path and 200 (an HTTP2 group's health checks are HTTP/2 requests,
// which the status port's Envoy listener accepts).
func ForProtocolVersion(hc model.HealthCheck, protocolVersion string, o Overrides) model.HealthCheck {
	if protocolVersion != model.ProtocolVersionGRPC {
		return hc
	}
	if o.Path == nil {
		hc.Path = GRPCPath
	}
	if o.SuccessCodes == nil {
		hc.Matcher = GRPCSuccessCode
	}
	return hc
}
