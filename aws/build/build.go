// Package build turns a gateway frontend and its annotations into the desired AWS model. It is
// pure: everything it needs from AWS (VPC, subnets, node security group) is resolved beforehand.
package build

import (
	"fmt"
	"slices"
	"sort"
	"strconv"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build/annotations"
	"github.com/istio-alb-operator/istio-alb-operator/aws/build/frontend"
	"github.com/istio-alb-operator/istio-alb-operator/aws/model"
	"github.com/istio-alb-operator/istio-alb-operator/aws/tags"
	"github.com/istio-alb-operator/istio-alb-operator/health"
)

// Environment is what was discovered in AWS for this gateway.
type Environment struct {
	VPCID               string
	Subnets             []string
	NodeSecurityGroupID string
	// Certificates are the HTTPS listener's ACM certificates, its default first; none means
	// no HTTPS listener.
	Certificates []string
	// SSLPolicy is the HTTPS listener's security policy.
	SSLPolicy string
}

// Hosts are the names a gateway serves: its servers' hosts, the hosts of the routes bound to it
// and the hostnames annotation; sorted and distinct.
func Hosts(fe *frontend.Frontend, cfg annotations.Config) []string {
	out := append(fe.Hosts(), cfg.Hostnames...)
	slices.Sort(out)
	return slices.Compact(out)
}

// SecurityGroupName is the name of a gateway's ALB security group.
func SecurityGroupName(owner tags.Owner) string { return owner.Name(model.ResourceSecurityGroup) }

// LoadBalancerName is the name of a gateway's ALB of a scheme (a scheme change replaces the ALB).
func LoadBalancerName(owner tags.Owner, scheme string) string {
	return owner.Name(model.ResourceLoadBalancer, scheme)
}

// LoadBalancerNames are the names a gateway's ALB can have, one per scheme.
func LoadBalancerNames(owner tags.Owner) []string {
	return []string{LoadBalancerName(owner, annotations.SchemeInternetFacing), LoadBalancerName(owner, annotations.SchemeInternal)}
}

// Build returns the desired stack of one gateway.
func Build(owner tags.Owner, fe *frontend.Frontend, cfg annotations.Config, env Environment) (*model.Stack, error) {
	traffic, protocol, err := fe.Backend()
	if err != nil {
		return nil, err
	}
	targets, err := targetsFor(fe, cfg, traffic, protocol)
	if err != nil {
		return nil, err
	}
	hc := targets.HealthCheck
	protocolVersion, _ := ProtocolVersion(fe, cfg, len(env.Certificates) > 0)
	hc = health.ForProtocolVersion(hc, protocolVersion, cfg.HealthCheck)
	if p := checkSuccessCodes(cfg, protocolVersion); len(p) > 0 {
		return nil, fmt.Errorf("%s", p[0].Message)
	}
	if len(env.Certificates) > annotations.MaxCertificates {
		return nil, fmt.Errorf("%d certificates: an ALB listener takes at most %d", len(env.Certificates), annotations.MaxCertificates)
	}
	if len(env.Subnets) < 2 {
		return nil, fmt.Errorf("an ALB needs subnets in at least two availability zones, found %d", len(env.Subnets))
	}

	stack := &model.Stack{Tags: cfg.Tags}

	stack.SecurityGroup = &model.SecurityGroup{
		Name:        SecurityGroupName(owner),
		Description: "ALB of " + owner.GatewayKey + ", managed by istio-alb-operator",
		VPCID:       env.VPCID,
	}
	for _, cidr := range cfg.InboundCIDRs {
		for _, port := range []int32{80, 443} {
			stack.SecurityGroup.Ingress = append(stack.SecurityGroup.Ingress, model.IngressRule{FromPort: port, ToPort: port, CIDR: cidr})
		}
	}

	stack.NodeAccess = &model.NodeAccess{NodeSecurityGroupID: env.NodeSecurityGroupID, Ports: targets.Open}

	tg := model.TargetGroup{
		ResourceID:  model.ResourceTargetGroup,
		Port:        targets.Port,
		Protocol:    protocol,
		TargetType:  cfg.TargetType,
		VPCID:       env.VPCID,
		HealthCheck: hc,
	}
	tg.Name = owner.Name(tg.ResourceID, strconv.Itoa(int(tg.Port)), tg.Protocol, tg.TargetType, tg.VPCID)
	setProtocolVersion(owner, &tg, protocolVersion)
	setTargetGroupAttributes(&tg, cfg.TargetGroupAttributes)
	tg.Targets = targets.Targets
	stack.TargetGroups = []model.TargetGroup{tg}

	subnets := append([]string(nil), env.Subnets...)
	sort.Strings(subnets)
	stack.LoadBalancer = &model.LoadBalancer{
		Name:          LoadBalancerName(owner, cfg.Scheme),
		Scheme:        cfg.Scheme,
		IPAddressType: cfg.IPAddressType,
		Subnets:       subnets,
		Attributes:    cfg.LoadBalancerAttributes,
		WebACLARN:     cfg.WAFv2ACLARN,
	}
	if defaults := annotations.LoadBalancerAttributeDefaults(); len(defaults) > 0 {
		for k := range cfg.LoadBalancerAttributes {
			delete(defaults, k)
		}
		stack.LoadBalancer.DefaultAttributes = defaults
	}
	if cfg.DNS {
		stack.DNS = &model.DNS{
			Names: Hosts(fe, cfg), Private: cfg.Scheme == annotations.SchemeInternal, VPCID: env.VPCID,
			DualStack: cfg.IPAddressType == annotations.IPAddressTypeDual,
		}
	}
	forward := model.Action{ForwardTo: tg.ResourceID}
	if len(env.Certificates) == 0 {
		stack.Listeners = []model.Listener{{Port: 80, Protocol: "HTTP", DefaultAction: forward}}
		return stack, nil
	}
	http := model.Listener{Port: 80, Protocol: "HTTP", DefaultAction: forward}
	if cfg.SSLRedirect || protocolVersion != model.ProtocolVersionHTTP1 {
		http.DefaultAction = model.Action{Redirect: &model.Redirect{Protocol: "HTTPS", Port: "443", StatusCode: "HTTP_301"}}
	}
	stack.Listeners = []model.Listener{http, {
		Port: 443, Protocol: "HTTPS", SSLPolicy: env.SSLPolicy,
		Certificates: append([]string(nil), env.Certificates...), DefaultAction: forward,
	}}
	return stack, nil
}
