package status

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	lbDNS   = "ia-test-ns-gw-1234.us-east-1.elb.amazonaws.com"
	certARN = "arn:aws:acm:us-east-1:123456789012:certificate/0b5a3b4e-1111-2222-3333-444455556666"
)

// events builds Events newest first, one second apart, from "Type Reason: message" lines.
func events(lines ...string) []Event {
	var out []Event
	for i, l := range lines {
		head, msg, _ := strings.Cut(l, ": ")
		typ, reason, _ := strings.Cut(head, " ")
		out = append(out, Event{Type: typ, Reason: reason, Message: msg, Time: t0.Add(-time.Duration(i) * time.Second)})
	}
	return out
}

// The messages as the operator writes them (controllers/act.go, report.go, tls.go; aws/build/tls.go).
var (
	programmed  = "Normal LoadBalancerReady: ALB " + lbDNS + " programmed (listeners HTTP:80,HTTPS:443, 2 targets)"
	httpOnly    = "Normal LoadBalancerReady: ALB " + lbDNS + " programmed (listeners HTTP:80, 2 targets)"
	dnsSynced   = "Normal DNSRecordsSynced: Route53 alias records for a.example.com, b.example.com point at the ALB"
	switched    = "Normal ServiceSwitchedToNodePort: Service istio-system/istio-ingressgateway switched from LoadBalancer to NodePort"
	nodePorts   = "Normal NodePortsAllocated: Service istio-system/istio-ingressgateway: allocateLoadBalancerNodePorts set to true"
	badAnno     = "Warning InvalidAnnotation: istio-alb.io/scheme: Unsupported value: \"public\""
	awsError    = "Warning AWSError: building the ALB: operation error Elastic Load Balancing v2: CreateLoadBalancer, api error AccessDenied"
	noCert      = "Warning CertificateNotFound: no ISSUED ACM certificate covers host(s) c.example.com, d.example.com; served over HTTP only (import or request one)"
	requested   = "Normal CertificateRequested: requested ACM certificate " + certARN + " for c.example.com (DNS validation)"
	cleanedUp   = "Normal CleanedUp: AWS resources of istio/test-ns/gw deleted"
	dnsConflict = "Warning DNSConflict: host x.example.com left alone: owned by another owner"
	protected   = "Warning DeletionProtected: the ALB has deletion protection on"
)

func TestThePhaseOfAGatewayIsReadFromWhatTheOperatorWrote(t *testing.T) {
	enabled := map[string]string{"istio-alb.io/enabled": "true"}
	built := map[string]string{"istio-alb.io/enabled": "true", "istio-alb.io/load-balancer-dns": lbDNS}
	cond := func(status metav1.ConditionStatus, reason string, gen int64) *metav1.Condition {
		return &metav1.Condition{Type: "istio-alb.io/LoadBalancerReady", Status: status, Reason: reason, Message: "m", ObservedGeneration: gen}
	}
	cases := []struct {
		name   string
		g      Gateway
		phase  string
		reason string
	}{
		{"an enabled Istio Gateway the operator has said nothing about is planning",
			Gateway{Kind: "istio", Annotations: enabled}, PhasePlanning, ""},
		{"a Service given nodePorts means the ALB is being built",
			Gateway{Kind: "istio", Annotations: enabled, Events: events(nodePorts)}, PhaseBuilding, "NodePortsAllocated"},
		{"an ALB programmed before the DNS-name annotation is written is the cutover",
			Gateway{Kind: "istio", Annotations: enabled, Events: events(dnsSynced, programmed, nodePorts)}, PhaseCutover, "DNSRecordsSynced"},
		{"the Service switched and the annotation written is ready",
			Gateway{Kind: "istio", Annotations: built, Events: events(switched, dnsSynced, programmed)}, PhaseReady, "ServiceSwitchedToNodePort"},
		{"a built gateway whose Events expired is ready",
			Gateway{Kind: "istio", Annotations: built}, PhaseReady, ""},
		{"a bad annotation after the ALB was built is an error with its reason",
			Gateway{Kind: "istio", Annotations: built, Events: events(badAnno, switched, programmed)}, PhaseError, "InvalidAnnotation"},
		{"an AWS failure is an error",
			Gateway{Kind: "istio", Annotations: enabled, Events: events(awsError, nodePorts)}, PhaseError, "AWSError"},
		{"a warning that does not stop the ALB leaves it ready",
			Gateway{Kind: "istio", Annotations: built, Events: events(dnsConflict, noCert, programmed)}, PhaseReady, "LoadBalancerReady"},
		{"a teardown of an earlier enablement is history: planning again",
			Gateway{Kind: "istio", Annotations: enabled, Events: events(cleanedUp, switched)}, PhasePlanning, ""},
		{"a requested certificate being issued is building",
			Gateway{Kind: "istio", Annotations: enabled, Events: events(requested)}, PhaseBuilding, "CertificateRequested"},
		{"the annotation removed with the finalizer still there is deleting",
			Gateway{Kind: "istio", Annotations: map[string]string{"istio-alb.io/load-balancer-dns": lbDNS}, Finalizer: true, Events: events(switched)}, PhaseDeleting, ""},
		{"a deleted Gateway whose teardown waits on deletion protection says why",
			Gateway{Kind: "istio", Annotations: built, Finalizer: true, Deleting: true, Events: events(protected, switched)}, PhaseDeleting, "DeletionProtected"},
		{"an enabled value other than true is acted on, and reported as an error",
			Gateway{Kind: "istio", Annotations: map[string]string{"istio-alb.io/enabled": "yes"}, Events: events("Warning InvalidAnnotation: istio-alb.io/enabled: must be \"true\" or \"false\"")}, PhaseError, "InvalidAnnotation"},

		{"the Gateway API condition True is ready",
			Gateway{Kind: "gateway-api", Generation: 2, Annotations: built, Condition: cond(metav1.ConditionTrue, "LoadBalancerReady", 2)}, PhaseReady, "LoadBalancerReady"},
		{"the Gateway API condition CuttingOver is the cutover",
			Gateway{Kind: "gateway-api", Generation: 1, Annotations: enabled, Condition: cond(metav1.ConditionFalse, "CuttingOver", 1)}, PhaseCutover, "CuttingOver"},
		{"the Gateway API condition WaitingForService is building",
			Gateway{Kind: "gateway-api", Generation: 1, Annotations: enabled, Condition: cond(metav1.ConditionFalse, "WaitingForService", 1)}, PhaseBuilding, "WaitingForService"},
		{"any other reason of the condition is an error with that reason, whatever the Events say",
			Gateway{Kind: "gateway-api", Generation: 1, Annotations: built, Condition: cond(metav1.ConditionFalse, "NetworkNotFound", 1), Events: events(programmed)}, PhaseError, "NetworkNotFound"},
		{"a condition of an older generation is planning",
			Gateway{Kind: "gateway-api", Generation: 3, Annotations: built, Condition: cond(metav1.ConditionTrue, "LoadBalancerReady", 2)}, PhasePlanning, ""},
		{"a Gateway API Gateway without the condition is read from its Events",
			Gateway{Kind: "gateway-api", Generation: 1, Annotations: enabled, Events: events(badAnno)}, PhaseError, "InvalidAnnotation"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := RowOf(c.g)
			if r.Phase != c.phase || r.Reason != c.reason {
				t.Fatalf("phase %q reason %q, want %q %q", r.Phase, r.Reason, c.phase, c.reason)
			}
		})
	}
}

func TestListenersCertificatesAndRoute53NamesComeFromTheNewestEventsAndTheAnnotations(t *testing.T) {
	g := Gateway{Kind: "istio", Namespace: "test-ns", Name: "gw",
		Annotations: map[string]string{"istio-alb.io/enabled": "true", "istio-alb.io/load-balancer-dns": lbDNS},
		Events: events(dnsSynced, noCert, dnsConflict, programmed, requested,
			"Normal DNSRecordsSynced: Route53 alias records for old.example.com point at the ALB", httpOnly)}
	r := RowOf(g)
	if !slices.Equal(r.Listeners, []string{"HTTP:80", "HTTPS:443"}) {
		t.Errorf("listeners %v, want the newest LoadBalancerReady's", r.Listeners)
	}
	if !slices.Equal(r.Route53Names, []string{"a.example.com", "b.example.com"}) {
		t.Errorf("route53 names %v, want the newest DNSRecordsSynced's", r.Route53Names)
	}
	if !slices.Equal(r.Certificates, []string{certARN}) || !r.CertificatesDiscovered {
		t.Errorf("certificates %v discovered %v, want the requested ARN and discovered ones on the HTTPS listener", r.Certificates, r.CertificatesDiscovered)
	}
	if !slices.Equal(r.HostsWithoutCertificate, []string{"c.example.com", "d.example.com"}) {
		t.Errorf("hosts without certificate %v", r.HostsWithoutCertificate)
	}
	if !slices.Equal(r.Warnings, []string{"CertificateNotFound", "DNSConflict"}) {
		t.Errorf("warnings %v", r.Warnings)
	}
	if r.LastEvent == nil || r.LastEvent.Reason != "DNSRecordsSynced" {
		t.Errorf("last event %+v", r.LastEvent)
	}

	explicit := RowOf(Gateway{Kind: "istio", Annotations: map[string]string{"istio-alb.io/enabled": "true",
		"istio-alb.io/certificate-arns": certARN + ", " + certARN, "istio-alb.io/dns": "false"}, Events: events(programmed)})
	if !slices.Equal(explicit.Certificates, []string{certARN}) || explicit.CertificatesDiscovered || !explicit.DNSOff {
		t.Errorf("with certificate-arns and dns off: certificates %v discovered %v dnsOff %v", explicit.Certificates, explicit.CertificatesDiscovered, explicit.DNSOff)
	}
}

func TestTheTableHasOneRowPerGatewayAndWideAndJSONSayMore(t *testing.T) {
	rows := []Row{
		RowOf(Gateway{Kind: "istio", Namespace: "test-ns", Name: "gw",
			Annotations: map[string]string{"istio-alb.io/enabled": "true", "istio-alb.io/load-balancer-dns": lbDNS},
			Events:      events(switched, dnsSynced, programmed)}),
		RowOf(Gateway{Kind: "istio", Namespace: "test-ns", Name: "bad",
			Annotations: map[string]string{"istio-alb.io/enabled": "true"}, Events: events(badAnno)}),
		RowOf(Gateway{Kind: "gateway-api", Namespace: "istio-system", Name: "web", Generation: 1,
			Annotations: map[string]string{"istio-alb.io/enabled": "true", "istio-alb.io/dns": "false"}}),
	}
	var out bytes.Buffer
	if err := Print(&out, rows, OutputTable, t0.Add(90*time.Second)); err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"KIND", "NAMESPACE", "NAME", "PHASE", "LOAD-BALANCER", "CERTIFICATES", "ROUTE53"},
		{"istio", "test-ns", "gw", "ready", lbDNS, "<discovered>", "a.example.com,b.example.com"},
		{"istio", "test-ns", "bad", "error:InvalidAnnotation", "<pending>", "<unknown>", "<none>"},
		{"gateway-api", "istio-system", "web", "planning", "<pending>", "<unknown>", "<off>"},
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(want) {
		t.Fatalf("table:\n%s", out.String())
	}
	for i, l := range lines {
		if got := strings.Fields(l); !slices.Equal(got, want[i]) {
			t.Errorf("line %d: %q, want %q", i, got, want[i])
		}
	}

	out.Reset()
	if err := Print(&out, rows, OutputWide, t0.Add(90*time.Second)); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"LISTENERS", "LAST-EVENT", "HTTP:80,HTTPS:443", "ServiceSwitchedToNodePort (90s ago)", `Unsupported value: "public"`} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("wide output lacks %q:\n%s", s, out.String())
		}
	}

	out.Reset()
	if err := Print(&out, rows, OutputJSON, t0); err != nil {
		t.Fatal(err)
	}
	var doc struct{ Gateways []Row }
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("json: %v\n%s", err, out.String())
	}
	if len(doc.Gateways) != 3 || doc.Gateways[1].Phase != PhaseError || doc.Gateways[1].Reason != "InvalidAnnotation" ||
		!slices.Equal(doc.Gateways[0].Route53Names, []string{"a.example.com", "b.example.com"}) {
		t.Errorf("json rows %+v", doc.Gateways)
	}

	out.Reset()
	if err := Print(&out, nil, OutputJSON, t0); err != nil || strings.TrimSpace(out.String()) != "{\n  \"gateways\": []\n}" {
		t.Errorf("no gateways as JSON: %q (%v)", out.String(), err)
	}
}
