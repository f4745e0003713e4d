// Package health maps a gateway frontend to the target-group health check: Istio's status port
// (15021, through its nodePort in instance mode, on the pods themselves in ip mode) and the path
// of the gateway's readiness probe.
package health

import (
	"fmt"
	"strconv"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build/frontend"
	"github.com/istio-alb-operator/istio-alb-operator/aws/model"
)

// Defaults of the derived health check, matching Istio's gateway readiness probe.
const (
	DefaultPath        = "/healthz/ready"
	DefaultSuccessCode = "200"
	// IstioStatusPort is the port of the gateway's /healthz/ready endpoint.
	IstioStatusPort = 15021
	// StatusPortName is the name Istio's charts give the status port on the gateway Service.
	StatusPortName = "status-port"
	// TrafficPort makes the health check use the port traffic is sent to.
	TrafficPort = "traffic-port"
)

// Overrides are the user's istio-alb.io/healthcheck-* annotations; nil fields keep the derived value.
type Overrides struct {
	Path               *string
	Port               *string // a port number or "traffic-port"
	IntervalSeconds    *int32
	TimeoutSeconds     *int32
	HealthyThreshold   *int32
	UnhealthyThreshold *int32
	SuccessCodes       *string
}

// StatusServicePort finds the Service port that leads to the gateway's health endpoint: the one
// targeting the readiness probe's port, else the one named status-port, else the one targeting
// (or numbered) 15021.
func StatusServicePort(fe *frontend.Frontend) (frontend.ServicePort, bool) {
	if fe.Probe != nil {
		for _, p := range fe.ServicePorts {
			if p.TargetPort == fe.Probe.Port {
				return p, true
			}
		}
	}
	for _, p := range fe.ServicePorts {
		if p.Name == StatusPortName {
			return p, true
		}
	}
	for _, p := range fe.ServicePorts {
		if p.TargetPort == intstr.FromInt32(IstioStatusPort) || (p.TargetPort.IntVal == 0 && p.TargetPort.StrVal == "" && p.Port == IstioStatusPort) {
			return p, true
		}
	}
	return frontend.ServicePort{}, false
}

// ForInstanceTargets returns the health check of an instance target group: HTTP on the nodePort
// of the status port, on the readiness probe's path (default /healthz/ready), matcher 200.
func ForInstanceTargets(fe *frontend.Frontend, o Overrides) (model.HealthCheck, error) {
	hc := model.HealthCheck{Protocol: "HTTP", Path: DefaultPath, Matcher: DefaultSuccessCode,
		IntervalSeconds: 15, TimeoutSeconds: 5, HealthyThreshold: 2, UnhealthyThreshold: 2}
	if fe.Probe != nil && fe.Probe.Path != "" {
		hc.Path = fe.Probe.Path
	}
	if fe.Probe != nil && fe.Probe.Scheme == "HTTPS" {
		hc.Protocol = "HTTPS"
	}
	if o.Port == nil {
		sp, ok := StatusServicePort(fe)
		if !ok {
			return hc, fmt.Errorf("service %s has no status port (a port named %s or targeting %d)", fe.Service, StatusPortName, IstioStatusPort)
		}
		if sp.NodePort == 0 {
			return hc, fmt.Errorf("service %s port %s has no nodePort yet", fe.Service, portName(sp))
		}
		hc.Port = strconv.Itoa(int(sp.NodePort))
	}
	apply(&hc, o)
	return hc, nil
}

func portName(p frontend.ServicePort) string {
	if p.Name != "" {
		return p.Name
	}
	return strconv.Itoa(int(p.Port))
}

func apply(hc *model.HealthCheck, o Overrides) {
	if o.Path != nil {
		hc.Path = *o.Path
	}
	if o.Port != nil {
		hc.Port = *o.Port
	}
	if o.IntervalSeconds != nil {
		hc.IntervalSeconds = *o.IntervalSeconds
	}
	if o.TimeoutSeconds != nil {
		hc.TimeoutSeconds = *o.TimeoutSeconds
	}
	if o.HealthyThreshold != nil {
		hc.HealthyThreshold = *o.HealthyThreshold
	}
	if o.UnhealthyThreshold != nil {
		hc.UnhealthyThreshold = *o.UnhealthyThreshold
	}
	if o.SuccessCodes != nil {
		hc.Matcher = *o.SuccessCodes
	}
}
