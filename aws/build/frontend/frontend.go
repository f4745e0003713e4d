// Package frontend is the one description of a gateway that both Gateway kinds (Istio and
// Gateway API) are normalised into before the health mapping and the AWS model are built.
package frontend

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Kinds of gateway, as they appear in the istio-alb.io/gateway tag.
const (
	KindIstio      = "istio"
	KindGatewayAPI = "gateway-api"
)

// Frontend is what the AWS side needs to know of one gateway, as read from Kubernetes.
type Frontend struct {
	Kind      string
	Namespace string
	Name      string
	// Problems are what made the gateway unresolvable (no Service, an empty selector, a class
	// that is not Istio's); the planner reports them with its own.
	Problems []Problem
	// Waiting says what the gateway waits for that resolves itself (istiod deploying its
	// Service); empty when nothing.
	Waiting string
	// Service is the gateway's Service, whose nodePorts receive the ALB's traffic; empty when
	// it was not found (see Problems).
	Service      types.NamespacedName
	ServicePorts []ServicePort
	// ServiceType is the Service's spec.type now.
	ServiceType string
	// AllocateLoadBalancerNodePorts is the Service's spec.allocateLoadBalancerNodePorts (nil
	// means true).
	AllocateLoadBalancerNodePorts *bool
	// ServiceOwner says who changes the Service's type: the operator itself, or istiod (Gateway
	// API automated deployment), which is asked through the Gateway's service-type annotation.
	ServiceOwner string
	// RequestedServiceType is the Gateway's networking.istio.io/service-type annotation, when
	// istiod owns the Service; empty when absent.
	RequestedServiceType string
	// Probe is the readiness probe of the gateway pods, nil when none was found.
	Probe   *Probe
	Servers []Server
	// Routes are the routes bound to the gateway (VirtualServices, HTTPRoutes) with the hosts
	// of theirs that its servers accept.
	Routes []Route
	// Nodes are the Ready, schedulable nodes with an EC2 instance id, sorted by instance id.
	Nodes []Node
	// NamespaceLabels are the labels of the Gateway's namespace (the cluster policy selects
	// namespaces by them).
	NamespaceLabels map[string]string
	// Workloads are the Deployments and DaemonSets of the Service's namespace whose pods the
	// Service selects, with whether those are Istio gateway pods.
	Workloads []Workload
	// PodIPs are the IPv4 addresses of the gateway Service's ready endpoints (its
	// EndpointSlices), sorted and distinct: the targets of target-type ip.
	PodIPs []string
	// ContainerPorts are the named container ports of the gateway pods (their templates), which
	// resolve a named targetPort or probe port to the port ip targets are reached on.
	ContainerPorts map[string]int32
	// TrustedProxies is the gatewayTopology.numTrustedProxies the gateway pods' templates set in
	// their proxy.istio.io/config annotation (the smallest among the gateway's workloads), 0 when
	// none sets it: the number of proxies in front of Envoy whose X-Forwarded-* headers it
	// believes. TrustedProxiesFrom names the workloads it was read from, for messages.
	TrustedProxies     uint32
	TrustedProxiesFrom string
}

// Workload is a Deployment or DaemonSet whose pods a gateway Service selects.
type Workload struct {
	Kind string // Deployment, DaemonSet
	Name string
	// Gateway says its pods are Istio gateway pods.
	Gateway bool
}

// GatewayPodsOnly reports whether the Service selects pods, all of them Istio gateway pods.
func (f *Frontend) GatewayPodsOnly() bool {
	for _, w := range f.Workloads {
		if !w.Gateway {
			return false
		}
	}
	return len(f.Workloads) > 0
}

// Who changes the type of a gateway's Service.
const (
	ServiceOwnerOperator = "operator"
	ServiceOwnerIstiod   = "istiod"
)

// IstioServiceTypeAnnotation is the Gateway annotation istiod reads for the type of the Service
// it deploys for a Gateway API Gateway.
const IstioServiceTypeAnnotation = "networking.istio.io/service-type"

// Problem is something the user must fix, with a stable PascalCase reason.
type Problem struct {
	Reason  string
	Message string
}

// Route is a route bound to the gateway and the hosts of it the gateway serves.
type Route struct {
	// Source names the route in messages: "VirtualService ns/name", "HTTPRoute ns/name".
	Source string
	Hosts  []string
}

// ServicePort is one port of the gateway Service.
type ServicePort struct {
	Name       string
	Port       int32
	TargetPort intstr.IntOrString
	NodePort   int32
}

// Probe is an HTTP readiness probe of the gateway pods.
type Probe struct {
	Path   string
	Port   intstr.IntOrString
	Scheme string
}

// Server is one port the gateway serves, with the hosts it serves there.
type Server struct {
	Port     int32
	Protocol string // HTTP, HTTPS, HTTP2, GRPC, TCP, TLS, ...
	Hosts    []string
	// TLSMode is the server's TLS mode (SIMPLE, PASSTHROUGH, MUTUAL, ...), empty without TLS.
	TLSMode string
	// Name identifies the server in messages (a Gateway API listener's name), may be empty.
	Name string
	// CertificateRefs says the server names Kubernetes certificates, which an ALB cannot use.
	CertificateRefs bool
	// HTTPSRedirect says a plain-HTTP server has Istio's tls.httpsRedirect: Envoy answers a
	// request it believes came over plain HTTP with a 301 to https (see TrustsForwardedProto).
	HTTPSRedirect bool
	// RedirectRoutes name the routes bound to a plain-HTTP server that redirect to https
	// whatever the request came over (Gateway API HTTPRoute RequestRedirect filters).
	RedirectRoutes []string
	// RouteKinds are the kinds of the routes attached to a Gateway API listener (HTTPRoute,
	// GRPCRoute), sorted and distinct; nil for an Istio server.
	RouteKinds []string
}

// TLS modes of a gateway server. Only SIMPLE (terminate with a certificate) can be done by the
// ALB; the others need the TLS stream or the client certificate to reach the gateway.
const (
	TLSSimple      = "SIMPLE"
	TLSPassthrough = "PASSTHROUGH"
)

// Describe names the server in messages.
func (s Server) Describe() string {
	if s.Name != "" {
		return fmt.Sprintf("listener %s (%s, port %d)", s.Name, s.Protocol, s.Port)
	}
	return fmt.Sprintf("server on port %d (%s)", s.Port, s.Protocol)
}

// Terminable reports whether the ALB can terminate this server's TLS in the gateway's place.
func (s Server) Terminable() bool { return s.TLSMode == TLSSimple }

// Node is a Kubernetes node backed by an EC2 instance.
type Node struct {
	Name       string
	InstanceID string
	Zone       string
}

// Key is "<kind>/<namespace>/<name>", the value of the istio-alb.io/gateway tag.
func (f *Frontend) Key() string { return f.Kind + "/" + f.Namespace + "/" + f.Name }

// Backend returns the Service port the ALB forwards to and the protocol to use there (see
// BackendTarget for the choice).
func (f *Frontend) Backend() (ServicePort, string, error) {
	t, err := f.BackendTarget()
	return t.Port, t.Protocol, err
}

// Hosts returns the DNS names the gateway serves: every server's hosts with any "namespace/"
// prefix removed and its route hosts, lower-cased, without the catch-all "*", sorted and distinct.
func (f *Frontend) Hosts() []string {
	seen := map[string]bool{}
	var out []string
	var all []string
	for _, r := range f.Routes {
		all = append(all, r.Hosts...)
	}
	for _, s := range f.Servers {
		all = append(all, s.Hosts...)
	}
	for _, h := range all {
		h = HostName(h)
		if h == "" || h == "*" || seen[h] {
			continue
		}
		seen[h] = true
		out = append(out, h)
	}
	sort.Strings(out)
	return out
}

// HostName is a server or route host as a DNS name: any "namespace/" prefix removed,
// lower-cased, without a trailing dot.
func HostName(h string) string {
	if i := strings.LastIndex(h, "/"); i >= 0 {
		h = h[i+1:]
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// HTTPServicePort returns the Service port that serves the gateway's plain-HTTP server: the
// server on port 80 when there is one, else the first HTTP server; a Service port matches a
// server when its port (or, failing that, its targetPort) is the server's port number.
func (f *Frontend) HTTPServicePort() (ServicePort, error) {
	var server *Server
	for i := range f.Servers {
		s := &f.Servers[i]
		if !isPlainHTTP(s.Protocol) {
			continue
		}
		if server == nil || s.Port == 80 {
			server = s
		}
	}
	if server == nil {
		return ServicePort{}, fmt.Errorf("gateway has no HTTP server")
	}
	if p, ok := f.servicePortFor(server.Port); ok {
		return p, nil
	}
	return ServicePort{}, fmt.Errorf("service %s has no port for the gateway's HTTP server port %d", f.Service, server.Port)
}

func (f *Frontend) servicePortFor(serverPort int32) (ServicePort, bool) {
	for _, p := range f.ServicePorts {
		if p.Port == serverPort {
			return p, true
		}
	}
	for _, p := range f.ServicePorts {
		if p.TargetPort.Type == intstr.Int && p.TargetPort.IntVal == serverPort {
			return p, true
		}
	}
	return ServicePort{}, false
}

func isPlainHTTP(protocol string) bool {
	switch protocol {
	case "HTTP", "HTTP2", "GRPC":
		return true
	}
	return false
}
