package health

import (
	"fmt"
	"strconv"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build/frontend"
	"github.com/istio-alb-operator/istio-alb-operator/aws/model"
)

// StatusContainerPort returns the gateway pods' own port of their health endpoint (Istio's
// 15021): the readiness probe's port, else the port the Service's status port targets (see
// StatusServicePort), a name resolved through the pods' named container ports. ip targets are
// checked there directly, not through a nodePort.
func StatusContainerPort(fe *frontend.Frontend) (int32, bool) {
	if fe.Probe != nil {
		if port, ok := fe.ContainerPort(fe.Probe.Port); ok {
			return port, true
		}
	}
	if sp, ok := StatusServicePort(fe); ok {
		return fe.TargetContainerPort(sp)
	}
	return 0, false
}

// ForIPTargets returns the health check of an ip target group: the one of instance targets
// (protocol, path and matcher from the readiness probe), on the pods' status container port
// instead of a nodePort.
func ForIPTargets(fe *frontend.Frontend, o Overrides) (model.HealthCheck, error) {
	if o.Port == nil {
		port, ok := StatusContainerPort(fe)
		if !ok {
			return model.HealthCheck{}, fmt.Errorf("the pods of service %s have no status port: no readiness probe on a container port, and no Service port named %s or targeting %d that leads to one",
				fe.Service, StatusPortName, IstioStatusPort)
		}
		p := strconv.Itoa(int(port))
		o.Port = &p
	}
	return ForInstanceTargets(fe, o)
}
