package status

import (
	"regexp"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build"
	"github.com/istio-alb-operator/istio-alb-operator/aws/build/annotations"
	"github.com/istio-alb-operator/istio-alb-operator/controllers"
)

// Phases of a managed gateway, in the order a move behind an ALB goes through them.
const (
	// PhasePlanning: enabled, and the operator has reported nothing on it yet.
	PhasePlanning = "planning"
	// PhaseBuilding: the Service is being given nodePorts, a certificate is being issued, or
	// istiod has not deployed the Service yet.
	PhaseBuilding = "building"
	// PhaseCutover: the ALB and its records are built; the Service is being switched.
	PhaseCutover = "cutover"
	// PhaseReady: the ALB serves the gateway.
	PhaseReady = "ready"
	// PhaseError: the operator reported a problem (the reason says which); what it built
	// before, if anything, keeps serving.
	PhaseError = "error"
	// PhaseDeleting: the annotation was removed or the Gateway deleted; the operator restores the
	// Service and deletes the ALB.
	PhaseDeleting = "deleting"
)

// Gateway is what the operator wrote on one managed gateway, read from Kubernetes.
type Gateway struct {
	// Kind is the operator's name of the kind: "istio" or "gateway-api".
	Kind        string
	Namespace   string
	Name        string
	Generation  int64
	Annotations map[string]string
	Finalizer   bool
	Deleting    bool
	// Condition is the operator's condition istio-alb.io/LoadBalancerReady (Gateway API only).
	Condition *metav1.Condition
	// Events are the operator's Events on the Gateway, newest first.
	Events []Event
}

// Event is one Event on a Gateway, with the time `kubectl get events` sorts by.
type Event struct {
	Type    string    `json:"type"`
	Reason  string    `json:"reason"`
	Message string    `json:"message"`
	Time    time.Time `json:"time"`
}

// Row is one gateway of the report.
type Row struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Phase     string `json:"phase"`
	// Reason is the reason of an error, or of the condition or Event the phase was read from.
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	// LoadBalancerDNS is the annotation istio-alb.io/load-balancer-dns.
	LoadBalancerDNS string `json:"loadBalancerDNS,omitempty"`
	// Listeners are the ALB's listeners the last LoadBalancerReady Event names ("HTTPS:443").
	Listeners []string `json:"listeners,omitempty"`
	// Certificates are the ACM ARNs known from Kubernetes: istio-alb.io/certificate-arns and the
	// certificates the operator requested. Certificates the operator discovered in ACM are not
	// reported in Kubernetes; CertificatesDiscovered says an HTTPS listener carries some.
	Certificates           []string `json:"certificates,omitempty"`
	CertificatesDiscovered bool     `json:"certificatesDiscovered,omitempty"`
	// HostsWithoutCertificate are the hosts the last CertificateNotFound Event names (HTTP only).
	HostsWithoutCertificate []string `json:"hostsWithoutCertificate,omitempty"`
	// Route53Names are the names the last DNSRecordsSynced Event says point at the ALB.
	Route53Names []string `json:"route53Names,omitempty"`
	// DNSOff: istio-alb.io/dns is "false", the operator leaves Route53 alone.
	DNSOff bool `json:"dnsOff,omitempty"`
	// Warnings are the reasons of Warning Events that do not stop the ALB (a host without
	// certificate, a DNS conflict, a listener an ALB cannot carry).
	Warnings  []string `json:"warnings,omitempty"`
	LastEvent *Event   `json:"lastEvent,omitempty"`
}

// blocking are the Warning reasons of a reconcile that stopped: a plan with user errors (nothing
// written) or a failed step. Other Warnings are notes on a stack that was built.
var blocking = map[string]bool{
	build.ReasonInvalidAnnotation: true, build.ReasonInvalidGateway: true, build.ReasonInvalidHost: true,
	build.ReasonServiceNotFound: true, build.ReasonAmbiguousService: true, build.ReasonStatusPortNotFound: true,
	build.ReasonNoTargetNodes: true, build.ReasonNetworkNotFound: true, build.ReasonTooManyCertificates: true,
	controllers.ReasonAWSError: true, controllers.ReasonServiceChangeFailed: true, controllers.ReasonKubernetesError: true,
	controllers.ReasonDeletionProtected: true,
	build.ReasonNotAGatewayService:      true, build.ReasonNamespaceNotAllowed: true, build.ReasonSchemeNotAllowed: true,
	build.ReasonHTTPSRedirectLoop: true, build.ReasonSNIRequired: true,
}

// progress maps the Normal reasons of a move in progress to its phase; built marks the reasons
// that come once the ALB exists (ready once the DNS-name annotation is written, which the
// operator does after the cutover).
var progress = map[string]string{
	controllers.ReasonNodePortsAllocated:   PhaseBuilding,
	controllers.ReasonCertificateRequested: PhaseBuilding,
	controllers.ReasonCertificatePending:   PhaseBuilding,
	controllers.ReasonWaiting:              PhaseBuilding,
	controllers.ReasonCuttingOver:          PhaseCutover,
	controllers.ReasonLoadBalancerReady:    PhaseCutover,
	controllers.ReasonDNSRecordsSynced:     PhaseCutover,
	controllers.ReasonServiceSwitched:      PhaseCutover,
}

// teardown are the reasons of a teardown: on a gateway enabled again they are history.
var teardown = map[string]bool{
	controllers.ReasonServiceRestored: true, controllers.ReasonCleanupWaiting: true, controllers.ReasonCleanedUp: true,
}

var (
	listenersIn    = regexp.MustCompile(`\(listeners ([A-Z]+:[0-9]+(?:,[A-Z]+:[0-9]+)*)`)
	route53Names   = regexp.MustCompile(`^Route53 alias records for (.+) point at the ALB`)
	uncoveredHosts = regexp.MustCompile(`host\(s\) (.+?); served over HTTP only`)
	certificateARN = regexp.MustCompile(`arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[A-Za-z0-9-]+`)
)

// RowOf works out a gateway's row from what the operator wrote: the Gateway API condition when
// it is current, else the newest Event that says where the gateway stands, and the DNS-name
// annotation.
func RowOf(g Gateway) Row {
	r := Row{Kind: g.Kind, Namespace: g.Namespace, Name: g.Name, LoadBalancerDNS: g.Annotations[annotations.LoadBalancerDNS],
		DNSOff: !annotations.DNSEnabled(g.Annotations)}
	if len(g.Events) > 0 {
		e := g.Events[0]
		r.LastEvent = &e
	}
	r.facts(g)
	switch {
	case g.Deleting || !operatorActsOn(g.Annotations):
		r.Phase = PhaseDeleting
		if e, ok := newest(g.Events, func(e Event) bool { return blocking[e.Reason] || teardown[e.Reason] }); ok && blocking[e.Reason] {
			r.Reason, r.Message = e.Reason, e.Message
		}
	case g.Condition != nil && g.Condition.ObservedGeneration >= g.Generation:
		r.fromCondition(*g.Condition)
	case g.Condition != nil:
		r.Phase, r.Message = PhasePlanning, "the operator has not reported on this generation of the Gateway yet"
	default:
		r.fromEvents(g.Events)
	}
	return r
}

// operatorActsOn mirrors the pipeline: a Gateway is built while its enabled annotation is
// present and not "false" (a value other than "true" is an InvalidAnnotation error).
func operatorActsOn(a map[string]string) bool {
	v, ok := a[annotations.Enabled]
	return ok && v != "false"
}

func (r *Row) fromCondition(c metav1.Condition) {
	r.Reason, r.Message = c.Reason, c.Message
	switch {
	case c.Status == metav1.ConditionTrue:
		r.Phase = PhaseReady
	case c.Reason == controllers.ReasonCuttingOver:
		r.Phase = PhaseCutover
	case c.Reason == controllers.ReasonWaiting:
		r.Phase = PhaseBuilding
	default:
		r.Phase = PhaseError
	}
}

// fromEvents reads the phase from the newest Event that tells it: a blocking Warning, a step
// of the move, or an earlier teardown. Events expire (an hour by default): a gateway with its
// DNS-name annotation and no such Event is ready.
func (r *Row) fromEvents(events []Event) {
	built := r.LoadBalancerDNS != ""
	e, ok := newest(events, func(e Event) bool {
		return (e.Type == "Warning" && blocking[e.Reason]) || progress[e.Reason] != "" || teardown[e.Reason]
	})
	switch {
	case !ok && built:
		r.Phase = PhaseReady
	case !ok, teardown[e.Reason]:
		r.Phase = PhasePlanning
	case blocking[e.Reason]:
		r.Phase, r.Reason, r.Message = PhaseError, e.Reason, e.Message
	case progress[e.Reason] == PhaseCutover && built:
		r.Phase, r.Reason, r.Message = PhaseReady, e.Reason, e.Message
	default:
		r.Phase, r.Reason, r.Message = progress[e.Reason], e.Reason, e.Message
	}
}

// facts fills what the Events and annotations say of the ALB: its listeners, certificates and
// Route53 names, and the Warnings that did not stop it.
func (r *Row) facts(g Gateway) {
	for _, arn := range strings.Split(g.Annotations[annotations.CertificateARNs], ",") {
		if arn = strings.TrimSpace(arn); arn != "" && !slices.Contains(r.Certificates, arn) {
			r.Certificates = append(r.Certificates, arn)
		}
	}
	for i := len(g.Events) - 1; i >= 0; i-- { // oldest first, so the newest fact wins
		e := g.Events[i]
		switch e.Reason {
		case controllers.ReasonLoadBalancerReady:
			if m := listenersIn.FindStringSubmatch(e.Message); m != nil {
				r.Listeners = strings.Split(m[1], ",")
			}
		case controllers.ReasonDNSRecordsSynced:
			if m := route53Names.FindStringSubmatch(e.Message); m != nil {
				r.Route53Names = strings.Split(m[1], ", ")
			}
		case build.ReasonCertificateNotFound:
			if m := uncoveredHosts.FindStringSubmatch(e.Message); m != nil {
				r.HostsWithoutCertificate = strings.Split(m[1], ", ")
			}
		case controllers.ReasonCertificateRequested, controllers.ReasonCertificatePending:
			for _, arn := range certificateARN.FindAllString(e.Message, -1) {
				if !slices.Contains(r.Certificates, arn) {
					r.Certificates = append(r.Certificates, arn)
				}
			}
		}
		if e.Type == "Warning" && !blocking[e.Reason] && !slices.Contains(r.Warnings, e.Reason) {
			r.Warnings = append(r.Warnings, e.Reason)
		}
	}
	r.CertificatesDiscovered = slices.ContainsFunc(r.Listeners, func(l string) bool { return strings.HasPrefix(l, "HTTPS:") }) &&
		g.Annotations[annotations.CertificateARNs] == ""
	slices.Sort(r.Warnings)
}

// newest returns the first (newest) Event that matches.
func newest(events []Event, match func(Event) bool) (Event, bool) {
	for _, e := range events {
		if match(e) {
			return e, true
		}
	}
	return Event{}, false
}
