package build

import (
	"fmt"
	"sort"
	"strconv"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build/annotations"
	"github.com/istio-alb-operator/istio-alb-operator/aws/build/frontend"
	"github.com/istio-alb-operator/istio-alb-operator/aws/model"
	"github.com/istio-alb-operator/istio-alb-operator/health"
)

// targetSet is where a target type sends the ALB's traffic and health checks.
type targetSet struct {
	// Port is the target group's port, and every target's.
	Port        int32
	HealthCheck model.HealthCheck
	// Targets are sorted by ID.
	Targets []model.Target
	// Open are the ports the node security group lets the backend group reach (traffic and
	// health), sorted and distinct.
	Open []int32
}

// targetsFor returns the targets of the gateway's target type behind the Service port traffic.
func targetsFor(fe *frontend.Frontend, cfg annotations.Config, traffic frontend.ServicePort, protocol string) (targetSet, error) {
	if cfg.TargetType == annotations.TargetTypeIP {
		return ipTargets(fe, cfg, traffic, protocol)
	}
	return instanceTargets(fe, cfg, traffic, protocol)
}

// instanceTargets are the nodes' instances on the traffic nodePort, health-checked on the status
// port's nodePort.
func instanceTargets(fe *frontend.Frontend, cfg annotations.Config, traffic frontend.ServicePort, protocol string) (targetSet, error) {
	if traffic.NodePort == 0 {
		return targetSet{}, fmt.Errorf("service %s port %d has no nodePort yet", fe.Service, traffic.Port)
	}
	hc, err := health.ForInstanceTargets(fe, cfg.HealthCheck)
	if err != nil {
		return targetSet{}, err
	}
	ts := targetSet{Port: traffic.NodePort, HealthCheck: hc}
	for _, n := range fe.Nodes {
		ts.Targets = append(ts.Targets, model.Target{ID: n.InstanceID, Port: traffic.NodePort})
	}
	return ts.complete(protocol), nil
}

// ipTargets are the ready gateway pods' IPs on the container port the traffic port targets,
// health-checked on the pods' status port (15021) itself: no nodePort is involved.
func ipTargets(fe *frontend.Frontend, cfg annotations.Config, traffic frontend.ServicePort, protocol string) (targetSet, error) {
	port, ok := fe.TargetContainerPort(traffic)
	if !ok {
		return targetSet{}, fmt.Errorf("service %s port %s targets %q, which no container port of the gateway pods is named", fe.Service, traffic.Name, traffic.TargetPort.String())
	}
	hc, err := health.ForIPTargets(fe, cfg.HealthCheck)
	if err != nil {
		return targetSet{}, err
	}
	ts := targetSet{Port: port, HealthCheck: hc}
	for _, ip := range fe.PodIPs {
		ts.Targets = append(ts.Targets, model.Target{ID: ip, Port: port})
	}
	return ts.complete(protocol), nil
}

// complete resolves a traffic-port health check to the traffic port, sorts the targets and lists
// the ports to open.
func (ts targetSet) complete(protocol string) targetSet {
	if ts.HealthCheck.Port == health.TrafficPort {
		ts.HealthCheck.Port = strconv.Itoa(int(ts.Port))
		ts.HealthCheck.Protocol = protocol
	}
	sort.Slice(ts.Targets, func(i, j int) bool { return ts.Targets[i].ID < ts.Targets[j].ID })
	ts.Open = []int32{ts.Port}
	if p, err := strconv.Atoi(ts.HealthCheck.Port); err == nil && int32(p) != ts.Port {
		ts.Open = append(ts.Open, int32(p))
	}
	sort.Slice(ts.Open, func(i, j int) bool { return ts.Open[i] < ts.Open[j] })
	return ts
}

// checkIPService checks what ip targets need of the Service: a selector (endpoints), a traffic
// port and a status port that lead to container ports of the gateway pods. Its type, nodePorts
// and istiod's service-type annotation do not matter: the Service is not changed.
func checkIPService(fe *frontend.Frontend, cfg annotations.Config) []Problem {
	var probs []Problem
	if fe.ServiceType == "ExternalName" {
		probs = append(probs, Problem{Reason: ReasonInvalidGateway, Message: fmt.Sprintf(
			"service %s is of type ExternalName, which has no endpoints for ip targets", fe.Service)})
	}
	if traffic, _, err := fe.Backend(); err == nil {
		if _, ok := fe.TargetContainerPort(traffic); !ok {
			probs = append(probs, Problem{Reason: ReasonInvalidGateway, Message: fmt.Sprintf(
				"annotation %s=%s: service %s port %s targets the container port named %q, which no container of the gateway pods declares",
				annotations.TargetType, annotations.TargetTypeIP, fe.Service, traffic.Name, traffic.TargetPort.StrVal)})
		}
	}
	if _, found := health.StatusContainerPort(fe); !found && cfg.HealthCheck.Port == nil {
		probs = append(probs, Problem{Reason: ReasonStatusPortNotFound, Message: fmt.Sprintf(
			"the pods of service %s have no status port: no readiness probe on a container port, and no Service port named %s or targeting %d that leads to one; set %s to choose one",
			fe.Service, health.StatusPortName, health.IstioStatusPort, annotations.HealthCheckPort)})
	}
	return probs
}

// checkIPNetwork reports an ip-target gateway whose VPC is unknown: without EC2 nodes (a
// Fargate-only cluster) there is no instance to learn it from.
func checkIPNetwork(in Input, cfg annotations.Config) []Problem {
	if cfg.TargetType != annotations.TargetTypeIP || !in.AWS.Read || in.AWS.VPCID != "" {
		return nil
	}
	return []Problem{{Reason: ReasonNetworkNotFound, Message: fmt.Sprintf(
		"annotation %s=%s: no Ready node with an EC2 providerID to learn the VPC from (a Fargate-only cluster?); start the operator with --vpc-id (Helm value vpcId)",
		annotations.TargetType, annotations.TargetTypeIP)}}
}
