package build

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build/annotations"
	"github.com/istio-alb-operator/istio-alb-operator/aws/build/frontend"
	"github.com/istio-alb-operator/istio-alb-operator/aws/model"
	"github.com/istio-alb-operator/istio-alb-operator/aws/tags"
	"github.com/istio-alb-operator/istio-alb-operator/health"
)

// Reasons of the problems and notes the planner reports; stable, since users alert on them.
const (
	ReasonInvalidAnnotation   = "InvalidAnnotation"
	ReasonInvalidGateway      = "InvalidGateway"
	ReasonInvalidHost         = "InvalidHost"
	ReasonServiceNotFound     = "ServiceNotFound"
	ReasonAmbiguousService    = "AmbiguousService"
	ReasonStatusPortNotFound  = "StatusPortNotFound"
	ReasonNoTargetNodes       = "NoTargetNodes"
	ReasonNetworkNotFound     = "NetworkNotFound"
	ReasonTooManyCertificates = "TooManyCertificates"
	ReasonCertificateNotFound = "CertificateNotFound"
	ReasonCertificateFailed   = "CertificateFailed"
	ReasonUnsupportedTLS      = "UnsupportedTLSMode"
	ReasonUnsupportedListener = "UnsupportedListener"
)

// PendingRetry is how soon a gateway waiting for a requested certificate is planned again.
const PendingRetry = 15 * time.Second

// Problem is something the user must fix; while there is one, nothing is written.
type Problem = frontend.Problem

// Facts are what was read of AWS for one gateway before planning (all of it cached reads).
type Facts struct {
	// Read says AWS was read; it is not while the gateway resolves to no Service, and then only
	// the checks that need no AWS fact are made.
	Read bool
	// Region and AccountID are where the operator works; a certificate elsewhere cannot go on
	// the ALB. AccountID may be empty when unknown.
	Region    string
	AccountID string
	// VPCID and NodeSecurityGroupID come from the nodes' instances; empty when there are no
	// nodes to ask.
	VPCID               string
	NodeSecurityGroupID string
	// Subnets are the candidate subnets: the named ones found, or those tagged for the scheme.
	Subnets []model.Subnet
	// SSLPolicies says, for each security policy asked about, whether ELBv2 offers it.
	SSLPolicies map[string]bool
	// DefaultSSLPolicy applies when the Gateway names none (the operator's flag).
	DefaultSSLPolicy string
	// Issued are the account's ISSUED certificates (discovery).
	Issued []model.Certificate
	// Named are the certificates of istio-alb.io/certificate-arns that exist, by ARN.
	Named map[string]model.Certificate
	// Requested are the certificates the operator requested for this gateway.
	Requested []model.Certificate
	// WebACLs says, for the web ACL of istio-alb.io/wafv2-acl-arn (asked about only when it is
	// of this region and account), whether it exists.
	WebACLs map[string]bool
}

// Input is everything the planner needs for one gateway.
type Input struct {
	Owner       tags.Owner
	Annotations map[string]string
	Gateway     *frontend.Frontend
	AWS         Facts
	// Policy is the cluster's policy (the operator's flags).
	Policy Policy
	Now    time.Time
}

// ServiceChange is a change of the gateway Service the act step makes.
type ServiceChange string

// Service changes, in the order they can happen.
const (
	ServiceUnchanged ServiceChange = ""
	// ServiceAllocateNodePorts sets allocateLoadBalancerNodePorts on a LoadBalancer Service that
	// has none: nodePorts are added, its load balancer keeps serving.
	ServiceAllocateNodePorts ServiceChange = "AllocateNodePorts"
	// ServiceToNodePort switches the Service's type to NodePort (nodePorts kept).
	ServiceToNodePort ServiceChange = "SwitchToNodePort"
	// ServiceAskIstiod sets networking.istio.io/service-type: NodePort on the Gateway, so that
	// istiod switches the Service it owns.
	ServiceAskIstiod ServiceChange = "AskIstiod"
)

// Note is something the user should know that does not stop the plan.
type Note struct {
	Warning bool
	Reason  string
	Message string
}

// GatewayPlan is the whole of what the act step does for one gateway.
type GatewayPlan struct {
	Config annotations.Config
	// Stack is the desired AWS stack; nil while the Service has no nodePorts yet (Prepare
	// gives it some) or the gateway is Waiting.
	Stack *model.Stack
	// Prepare is the Service change made before anything in AWS: it gives the Service
	// nodePorts without touching the traffic it carries.
	Prepare ServiceChange
	// Cutover is the Service change made last, once the ALB, its targets and its records exist.
	Cutover ServiceChange
	// Request are the hosts an ACM certificate is requested for.
	Request []string
	// Pending are the requested certificates waiting for DNS validation: their records are
	// written.
	Pending []model.Certificate
	Notes   []Note
	// RetryAfter is set while a certificate is pending.
	RetryAfter time.Duration
	// Waiting says what the gateway waits for that resolves itself; nothing is written but
	// what Prepare says.
	Waiting string
}

// Plan is the pure planner: from what was gathered it returns the whole plan, or every
// problem the user must fix (never a partial plan: with problems, nothing may be written).
func Plan(in Input) (*GatewayPlan, []Problem) {
	fe := in.Gateway
	var probs []Problem
	cfg, errs := annotations.ParseWith(in.Annotations, in.Policy.Defaults)
	if !in.Policy.AdmitsNamespace(fe.NamespaceLabels) {
		// Nothing else is said to a namespace the operator does not serve.
		return nil, checkPolicy(in.Policy, fe, cfg)
	}
	for _, e := range errs {
		probs = append(probs, Problem{Reason: ReasonInvalidAnnotation, Message: e.Error()})
	}
	probs = append(probs, checkPolicy(in.Policy, fe, cfg)...)
	probs = append(probs, fe.Problems...)
	p := &GatewayPlan{Config: cfg}

	p.Notes = serverNotes(fe)
	probs = append(probs, checkHosts(fe)...)
	resolved := fe.Service.Name != ""
	if resolved {
		probs = append(probs, checkGatewayPods(fe)...)
		probs = append(probs, checkService(fe, cfg)...)
		if len(fe.Nodes) == 0 && cfg.TargetType != annotations.TargetTypeIP {
			probs = append(probs, Problem{Reason: ReasonNoTargetNodes,
				Message: "no Ready, schedulable node with an EC2 providerID (aws:///<zone>/<instance-id>)"})
		}
	}
	var subnets []string
	if in.AWS.VPCID != "" {
		var prob *Problem
		if subnets, prob = chooseSubnets(in.AWS.Subnets, cfg, in.AWS.VPCID); prob != nil {
			probs = append(probs, *prob)
		}
	}
	probs = append(probs, checkIPNetwork(in, cfg)...)
	tls, tlsProbs := planTLS(in, cfg)
	probs = append(probs, tlsProbs...)
	p.Notes = append(p.Notes, tls.notes...)
	if resolved && in.AWS.Read {
		backendProbs, backendNotes := checkBackend(fe, len(tls.certificates) > 0)
		probs = append(probs, backendProbs...)
		p.Notes = append(p.Notes, backendNotes...)
	}
	protocolVersion, protocolNotes := ProtocolVersion(fe, cfg, len(tls.certificates) > 0)
	p.Notes = append(p.Notes, protocolNotes...)
	probs = append(probs, checkSuccessCodes(cfg, protocolVersion)...)
	probs = append(probs, checkWebACL(in, cfg)...)
	if len(probs) > 0 {
		return nil, probs
	}
	if fe.Waiting != "" {
		p.Waiting = fe.Waiting
		return p, nil
	}
	p.Request, p.Pending, p.RetryAfter = tls.request, tls.pending, tls.retryAfter
	p.Prepare, p.Cutover = servicePlan(fe, cfg)
	if cfg.TargetType != annotations.TargetTypeIP && !hasNodePorts(fe) {
		if p.Prepare == ServiceUnchanged {
			p.Waiting = fmt.Sprintf("waiting for Service %s to get its nodePorts", fe.Service)
		}
		return p, nil
	}
	stack, err := Build(in.Owner, fe, cfg, Environment{
		VPCID: in.AWS.VPCID, Subnets: subnets, NodeSecurityGroupID: in.AWS.NodeSecurityGroupID,
		Certificates: tls.certificates, SSLPolicy: tls.policy,
	})
	if err != nil {
		// Every input Build checks was checked above; reaching this is a planner bug, reported
		// rather than acted on.
		return nil, []Problem{{Reason: ReasonInvalidGateway, Message: err.Error()}}
	}
	if stack.DNS != nil {
		var note *Note
		if stack.DNS.Names, note = outsideDomains(in.Policy, stack.DNS.Names); note != nil {
			p.Notes = append(p.Notes, *note)
		}
	}
	p.Stack = stack
	return p, nil
}

// serverNotes reports the servers an ALB cannot carry; they are left out, the rest is exposed.
func serverNotes(fe *frontend.Frontend) []Note {
	var notes []Note
	for _, s := range fe.Servers {
		switch {
		case s.Protocol == "TCP" || s.Protocol == "UDP":
			notes = append(notes, Note{true, ReasonUnsupportedListener, fmt.Sprintf(
				"%s cannot go behind an ALB, which carries HTTP and HTTPS only; it is not exposed", s.Describe())})
		case s.TLSMode != "" && !s.Terminable():
			notes = append(notes, Note{true, ReasonUnsupportedTLS, fmt.Sprintf(
				"%s has TLS mode %s, which cannot work behind an ALB (%s); it is not exposed, use SIMPLE/Terminate or a plain HTTP server",
				s.Describe(), s.TLSMode, whyNotBehindALB(s.TLSMode))})
		}
	}
	return notes
}

// checkHosts checks every host the gateway would put in DNS and on certificates: its servers'
// and its routes', each reported with where it comes from.
func checkHosts(fe *frontend.Frontend) []Problem {
	var probs []Problem
	for _, s := range fe.Servers {
		for _, h := range s.Hosts {
			name := frontend.HostName(h)
			if name == "" || name == "*" {
				continue
			}
			if msg := annotations.CheckHostname(name); msg != "" {
				probs = append(probs, Problem{Reason: ReasonInvalidGateway, Message: fmt.Sprintf("%s: host %q %s", s.Describe(), h, msg)})
			}
		}
	}
	for _, r := range fe.Routes {
		for _, h := range r.Hosts {
			if msg := annotations.CheckHostname(h); msg != "" {
				probs = append(probs, Problem{Reason: ReasonInvalidHost, Message: fmt.Sprintf("%s: host %q %s", r.Source, h, msg)})
			}
		}
	}
	return probs
}

// checkService checks that the Service can carry the ALB's traffic: a port for the gateway's
// HTTP (or terminated HTTPS) server, a status port for the health check, and a type the
// operator may work with.
func checkService(fe *frontend.Frontend, cfg annotations.Config) []Problem {
	var probs []Problem
	if _, _, err := fe.Backend(); err != nil {
		probs = append(probs, Problem{Reason: ReasonInvalidGateway, Message: err.Error()})
	}
	if cfg.TargetType == annotations.TargetTypeIP {
		return append(probs, checkIPService(fe, cfg)...)
	}
	if _, found := health.StatusServicePort(fe); !found && cfg.HealthCheck.Port == nil {
		probs = append(probs, Problem{Reason: ReasonStatusPortNotFound, Message: fmt.Sprintf(
			"service %s has no status port (a port named %s or targeting %d); set %s to choose one",
			fe.Service, health.StatusPortName, health.IstioStatusPort, annotations.HealthCheckPort)})
	}
	istiod := fe.ServiceOwner == frontend.ServiceOwnerIstiod
	switch {
	case fe.ServiceType == "ExternalName":
		probs = append(probs, Problem{Reason: ReasonInvalidGateway, Message: fmt.Sprintf(
			"service %s is of type ExternalName, which has no nodePorts for an ALB", fe.Service)})
	case istiod && !cfg.KeepServiceType && fe.RequestedServiceType != "" && fe.RequestedServiceType != "NodePort":
		probs = append(probs, Problem{Reason: ReasonInvalidGateway, Message: fmt.Sprintf(
			"annotation %s=%q: the ALB needs the gateway Service to be NodePort; remove the annotation, set it to NodePort, or set %s=true to keep the type (it must have nodePorts)",
			frontend.IstioServiceTypeAnnotation, fe.RequestedServiceType, annotations.KeepServiceType)})
	case cfg.KeepServiceType && !hasNodePorts(fe):
		probs = append(probs, Problem{Reason: ReasonInvalidAnnotation, Message: fmt.Sprintf(
			"annotation %s=true: service %s (type %s%s) has no nodePorts for the ALB, and its type and fields are to be left alone; give it nodePorts (NodePort, or LoadBalancer with allocateLoadBalancerNodePorts) or remove the annotation",
			annotations.KeepServiceType, fe.Service, fe.ServiceType, allocationNote(fe))})
	}
	return probs
}

func allocationNote(fe *frontend.Frontend) string {
	if a := fe.AllocateLoadBalancerNodePorts; a != nil && !*a {
		return ", allocateLoadBalancerNodePorts false"
	}
	return ""
}

// servicePlan decides how the Service gets nodePorts (before AWS, without touching its
// traffic) and how it is cut over to the ALB (last).
func servicePlan(fe *frontend.Frontend, cfg annotations.Config) (prepare, cutover ServiceChange) {
	if cfg.TargetType == annotations.TargetTypeIP {
		return ServiceUnchanged, ServiceUnchanged // the ALB reaches the pods themselves
	}
	if cfg.KeepServiceType || fe.ServiceType == "NodePort" {
		return ServiceUnchanged, ServiceUnchanged
	}
	if fe.ServiceOwner == frontend.ServiceOwnerIstiod {
		switch {
		case fe.RequestedServiceType == "NodePort":
			return ServiceUnchanged, ServiceUnchanged
		case fe.ServiceType == "LoadBalancer" && hasNodePorts(fe):
			return ServiceUnchanged, ServiceAskIstiod
		default:
			return ServiceAskIstiod, ServiceUnchanged
		}
	}
	switch fe.ServiceType {
	case "LoadBalancer":
		if !hasNodePorts(fe) {
			return ServiceAllocateNodePorts, ServiceToNodePort
		}
		return ServiceUnchanged, ServiceToNodePort
	default: // ClusterIP: no traffic from outside the cluster to disturb
		return ServiceToNodePort, ServiceUnchanged
	}
}

// hasNodePorts reports whether the Service ports the ALB uses (traffic and status) have
// nodePorts.
func hasNodePorts(fe *frontend.Frontend) bool {
	traffic, _, err := fe.Backend()
	if err != nil || traffic.NodePort == 0 {
		return false
	}
	status, found := health.StatusServicePort(fe)
	return !found || status.NodePort != 0
}

// chooseSubnets picks one subnet per availability zone (the lowest id) among the candidates,
// reporting named subnets that were not found and fewer than two zones.
func chooseSubnets(candidates []model.Subnet, cfg annotations.Config, vpcID string) ([]string, *Problem) {
	if len(cfg.Subnets) > 0 {
		var missing []string
		for _, n := range cfg.Subnets {
			if !slices.ContainsFunc(candidates, func(s model.Subnet) bool { return s.ID == n || s.Name == n }) {
				missing = append(missing, n)
			}
		}
		if len(missing) > 0 {
			return nil, &Problem{Reason: ReasonNetworkNotFound, Message: fmt.Sprintf("annotation %s=%q: subnets %s not found in VPC %s",
				annotations.Subnets, strings.Join(cfg.Subnets, ","), strings.Join(missing, ", "), vpcID)}
		}
	}
	byZone := map[string]string{}
	for _, s := range candidates {
		if cur, ok := byZone[s.Zone]; !ok || s.ID < cur {
			byZone[s.Zone] = s.ID
		}
	}
	var out []string
	for _, id := range byZone {
		out = append(out, id)
	}
	slices.Sort(out)
	if len(out) >= 2 {
		return out, nil
	}
	how := fmt.Sprintf("annotation %s=%q names", annotations.Subnets, strings.Join(cfg.Subnets, ","))
	if len(cfg.Subnets) == 0 {
		role := "kubernetes.io/role/elb"
		if cfg.Scheme == annotations.SchemeInternal {
			role = "kubernetes.io/role/internal-elb"
		}
		how = fmt.Sprintf("VPC %s has, tagged %s for this cluster,", vpcID, role)
	}
	return nil, &Problem{Reason: ReasonNetworkNotFound, Message: fmt.Sprintf(
		"an ALB needs subnets in at least two availability zones; %s subnets in %d (tag subnets for the ALB role or name them in %s)",
		how, len(out), annotations.Subnets)}
}
