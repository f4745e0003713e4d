// Package frontend is the one description of a gateway that both Gateway kinds (Istio and
// Gateway API) are normalised into before the health mapping and the AWS model are built.
package frontend

import (
	"fmt"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Kinds of gateway, as they appear in the istio-alb.io/gateway tag.
const (
	KindIstio      = "istio"
	KindGatewayAPI = "gateway-api"
)

// Frontend is what the AWS side needs to know of one gateway.
type Frontend struct {
	Kind      string
	Namespace string
	Name      string
	// Service is the gateway's Service, whose nodePorts receive the ALB's traffic.
	Service      types.NamespacedName
	ServicePorts []ServicePort
	// Probe is the readiness probe of the gateway pods, nil when none was found.
	Probe   *Probe
	Servers []Server
	// Nodes are the Ready, schedulable nodes with an EC2 instance id, sorted by instance id.
	Nodes []Node
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
}

// Node is a Kubernetes node backed by an EC2 instance.
type Node struct {
	Name       string
	InstanceID string
	Zone       string
}

// Key is "<kind>/<namespace>/<name>", the value of the istio-alb.io/gateway tag.
func (f *Frontend) Key() string { return f.Kind + "/" + f.Namespace + "/" + f.Name }

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
	for _, p := range f.ServicePorts {
		if p.Port == server.Port {
			return p, nil
		}
	}
	for _, p := range f.ServicePorts {
		if p.TargetPort.Type == intstr.Int && p.TargetPort.IntVal == server.Port {
			return p, nil
		}
	}
	return ServicePort{}, fmt.Errorf("service %s has no port for the gateway's HTTP server port %d", f.Service, server.Port)
}

func isPlainHTTP(protocol string) bool {
	switch protocol {
	case "HTTP", "HTTP2", "GRPC":
		return true
	}
	return false
}
