package frontend

import "k8s.io/apimachinery/pkg/util/intstr"

// ContainerPort resolves a port of the gateway pods as a Service's targetPort or a probe names
// it: a number is the port itself, a name is looked up in the pods' named container ports. ok is
// false for a name no container port has.
func (f *Frontend) ContainerPort(p intstr.IntOrString) (port int32, ok bool) {
	if p.Type == intstr.String {
		port, ok = f.ContainerPorts[p.StrVal]
		return port, ok
	}
	return p.IntVal, p.IntVal > 0
}

// TargetContainerPort is the gateway pods' port a Service port sends its traffic to (its
// targetPort, which defaults to the port itself).
func (f *Frontend) TargetContainerPort(sp ServicePort) (int32, bool) {
	if sp.TargetPort.Type == intstr.Int && sp.TargetPort.IntVal == 0 {
		return sp.Port, sp.Port > 0
	}
	return f.ContainerPort(sp.TargetPort)
}
