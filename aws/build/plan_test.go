package build

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/external-dns/endpoint"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build/annotations"
	"github.com/istio-alb-operator/istio-alb-operator/aws/build/frontend"
	"github.com/istio-alb-operator/istio-alb-operator/aws/model"
	"github.com/istio-alb-operator/istio-alb-operator/aws/tags"
)

const wildARN = "arn:aws:acm:us-east-1:123456789012:certificate/wild"

var planNow = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// planInput is the article's gateway on a LoadBalancer Service with its nodePorts, in an
// account with two tagged subnets and the *.example.com certificate.
func planInput() Input {
	fe := article()
	fe.ServiceType = "LoadBalancer"
	fe.ServiceOwner = frontend.ServiceOwnerOperator
	fe.Workloads = []frontend.Workload{{Kind: "Deployment", Name: "istio-ingressgateway", Gateway: true}}
	fe.NamespaceLabels = map[string]string{"team": "web"}
	return Input{
		Owner:       tags.Owner{Cluster: "demo", GatewayKey: "istio/test-ns/test-gateway"},
		Annotations: map[string]string{annotations.Enabled: "true"},
		Gateway:     fe,
		Now:         planNow,
		AWS: Facts{
			Read: true, Region: "us-east-1", AccountID: "123456789012", VPCID: "vpc-1", NodeSecurityGroupID: "sg-nodes",
			Subnets:          []model.Subnet{{ID: "subnet-b", Zone: "us-east-1b", Name: "public-b"}, {ID: "subnet-a", Zone: "us-east-1a", Name: "public-a"}},
			SSLPolicies:      map[string]bool{"ELBSecurityPolicy-TLS13-1-2-2021-06": true},
			DefaultSSLPolicy: "ELBSecurityPolicy-TLS13-1-2-2021-06",
			Issued:           []model.Certificate{{ARN: wildARN, Names: []string{"*.example.com"}, Status: model.CertificateIssued, NotAfter: planNow.AddDate(1, 0, 0)}},
		},
	}
}

func TestPlanReturnsTheWholeStackOrEveryProblem(t *testing.T) {
	manyTags := func() string {
		var kv []string
		for i := range 60 {
			kv = append(kv, fmt.Sprintf("k%d=v", i))
		}
		return strings.Join(kv, ",")
	}
	manyCIDRs := func(n int) string {
		var c []string
		for i := range n {
			c = append(c, fmt.Sprintf("10.%d.0.0/16", i))
		}
		return strings.Join(c, ",")
	}
	cases := []struct {
		sentence string
		change   func(*Input)
		// problems lists, per expected problem, its reason and words its message must contain.
		problems [][]string
		check    func(*testing.T, *GatewayPlan)
	}{
		{
			sentence: "a LoadBalancer Service with nodePorts gets the whole stack now and is cut over last",
			check: func(t *testing.T, p *GatewayPlan) {
				if p.Stack == nil || p.Prepare != ServiceUnchanged || p.Cutover != ServiceToNodePort {
					t.Fatalf("stack %v prepare %q cutover %q", p.Stack != nil, p.Prepare, p.Cutover)
				}
				if got := p.Stack.Listeners; len(got) != 2 || got[1].Certificates[0] != wildARN || got[0].DefaultAction.Redirect == nil {
					t.Fatalf("listeners %+v", got)
				}
				if !slices.Equal(p.Stack.LoadBalancer.Subnets, []string{"subnet-a", "subnet-b"}) {
					t.Fatalf("subnets %v", p.Stack.LoadBalancer.Subnets)
				}
			},
		},
		{
			sentence: "a NodePort Service needs no Service change",
			change:   func(in *Input) { in.Gateway.ServiceType = "NodePort" },
			check: func(t *testing.T, p *GatewayPlan) {
				if p.Stack == nil || p.Prepare != ServiceUnchanged || p.Cutover != ServiceUnchanged {
					t.Fatalf("prepare %q cutover %q", p.Prepare, p.Cutover)
				}
			},
		},
		{
			sentence: "keep-service-type builds the ALB on the nodePorts and never changes the Service",
			change:   func(in *Input) { in.Annotations[annotations.KeepServiceType] = "true" },
			check: func(t *testing.T, p *GatewayPlan) {
				if p.Stack == nil || p.Prepare != ServiceUnchanged || p.Cutover != ServiceUnchanged {
					t.Fatalf("prepare %q cutover %q", p.Prepare, p.Cutover)
				}
			},
		},
		{
			sentence: "a LoadBalancer Service without nodePorts gets them first, then the stack, then the cutover",
			change: func(in *Input) {
				no := false
				in.Gateway.AllocateLoadBalancerNodePorts = &no
				for i := range in.Gateway.ServicePorts {
					in.Gateway.ServicePorts[i].NodePort = 0
				}
			},
			check: func(t *testing.T, p *GatewayPlan) {
				if p.Stack != nil || p.Prepare != ServiceAllocateNodePorts || p.Cutover != ServiceToNodePort {
					t.Fatalf("stack %v prepare %q cutover %q", p.Stack != nil, p.Prepare, p.Cutover)
				}
			},
		},
		{
			sentence: "a ClusterIP Service carries no outside traffic, so it is switched first",
			change: func(in *Input) {
				in.Gateway.ServiceType = "ClusterIP"
				for i := range in.Gateway.ServicePorts {
					in.Gateway.ServicePorts[i].NodePort = 0
				}
			},
			check: func(t *testing.T, p *GatewayPlan) {
				if p.Stack != nil || p.Prepare != ServiceToNodePort || p.Cutover != ServiceUnchanged {
					t.Fatalf("stack %v prepare %q cutover %q", p.Stack != nil, p.Prepare, p.Cutover)
				}
			},
		},
		{
			sentence: "istiod's LoadBalancer Service is cut over by asking istiod, last",
			change:   func(in *Input) { in.Gateway.ServiceOwner = frontend.ServiceOwnerIstiod },
			check: func(t *testing.T, p *GatewayPlan) {
				if p.Stack == nil || p.Cutover != ServiceAskIstiod {
					t.Fatalf("cutover %q", p.Cutover)
				}
			},
		},
		{
			sentence: "a certificate nothing covers is requested when asked to, and the plan looks again",
			change: func(in *Input) {
				in.Gateway.Servers[0].Hosts = []string{"shop.example.org"}
				in.Annotations[annotations.RequestCertificate] = "true"
			},
			check: func(t *testing.T, p *GatewayPlan) {
				if !slices.Equal(p.Request, []string{"shop.example.org"}) || p.RetryAfter != PendingRetry || len(p.Stack.Listeners) != 1 {
					t.Fatalf("request %v retry %v listeners %d", p.Request, p.RetryAfter, len(p.Stack.Listeners))
				}
			},
		},
		{
			sentence: "a requested certificate pending validation gets its records written, not a second request",
			change: func(in *Input) {
				in.Gateway.Servers[0].Hosts = []string{"shop.example.org"}
				in.Annotations[annotations.RequestCertificate] = "true"
				in.AWS.Requested = []model.Certificate{{ARN: "arn:aws:acm:us-east-1:123456789012:certificate/shop", Domain: "shop.example.org",
					Status: model.CertificatePending, Validation: []model.Record{{Name: "_x.shop.example.org", Type: "CNAME", Value: "_y.acm"}}}}
			},
			check: func(t *testing.T, p *GatewayPlan) {
				if len(p.Request) != 0 || len(p.Pending) != 1 {
					t.Fatalf("request %v pending %v", p.Request, p.Pending)
				}
			},
		},
		{
			sentence: "every problem is reported at once: annotations, hosts of routes, subnets, certificates",
			change: func(in *Input) {
				in.Annotations[annotations.Tags] = manyTags()
				in.Annotations[annotations.InboundCIDRs] = manyCIDRs(31)
				in.Annotations[annotations.Subnets] = "subnet-a,missing-b"
				in.Annotations[annotations.CertificateARNs] = "arn:aws:acm:eu-west-1:123456789012:certificate/x"
				in.Gateway.Routes = []frontend.Route{{Source: "VirtualService apps/long", Hosts: []string{strings.Repeat("a", 64) + ".example.com"}}}
			},
			problems: [][]string{
				{ReasonInvalidAnnotation, annotations.Tags, "60 tags", "at most 47"},
				{ReasonInvalidAnnotation, annotations.InboundCIDRs, "31 IPv4 CIDRs", "at most 30"},
				{ReasonInvalidHost, "VirtualService apps/long", strings.Repeat("a", 64)},
				{ReasonNetworkNotFound, annotations.Subnets, "missing-b"},
				{ReasonInvalidAnnotation, annotations.CertificateARNs, "eu-west-1"},
			},
		},
		{
			sentence: "a tag value ELBv2 refuses is reported with the pair",
			change:   func(in *Input) { in.Annotations[annotations.Tags] = "team=web|mobile" },
			problems: [][]string{{ReasonInvalidAnnotation, annotations.Tags, "team=web|mobile"}},
		},
		{
			sentence: "a certificate of another account is reported",
			change: func(in *Input) {
				in.Annotations[annotations.CertificateARNs] = "arn:aws:acm:us-east-1:999999999999:certificate/x"
			},
			problems: [][]string{{ReasonInvalidAnnotation, "999999999999", "own account"}},
		},
		{
			sentence: "a success-code range outside what an ALB accepts is reported",
			change:   func(in *Input) { in.Annotations[annotations.SuccessCodes] = "200-599" },
			problems: [][]string{{ReasonInvalidAnnotation, annotations.SuccessCodes, "200-599"}},
		},
		{
			sentence: "an unresolved gateway reports its problem with the annotations', and nothing needs AWS",
			change: func(in *Input) {
				in.Gateway.Service = types.NamespacedName{}
				in.Gateway.Problems = []frontend.Problem{{Reason: ReasonServiceNotFound, Message: "no Service selects the gateway pods of selector istio=x"}}
				in.AWS = Facts{}
				in.Annotations[annotations.Scheme] = "public"
			},
			problems: [][]string{{ReasonInvalidAnnotation, annotations.Scheme, "public"}, {ReasonServiceNotFound, "istio=x"}},
		},
		{
			sentence: "keep-service-type on a Service without nodePorts is reported, since nothing may change it",
			change: func(in *Input) {
				in.Annotations[annotations.KeepServiceType] = "true"
				in.Gateway.ServiceType = "ClusterIP"
				for i := range in.Gateway.ServicePorts {
					in.Gateway.ServicePorts[i].NodePort = 0
				}
			},
			problems: [][]string{{ReasonInvalidAnnotation, annotations.KeepServiceType, "no nodePorts"}},
		},
		{
			sentence: "a Service without the status port is reported",
			change: func(in *Input) {
				in.Gateway.ServicePorts = in.Gateway.ServicePorts[1:]
				in.Gateway.Probe = &frontend.Probe{Path: "/healthz/ready", Port: intstr.FromInt32(15021)}
			},
			problems: [][]string{{ReasonStatusPortNotFound, "status port"}},
		},
		{
			sentence: "no target node is reported",
			change:   func(in *Input) { in.Gateway.Nodes = nil; in.AWS.VPCID = "" },
			problems: [][]string{{ReasonNoTargetNodes, "providerID"}},
		},
		{
			sentence: "a Service that selects no gateway pods is refused",
			change:   func(in *Input) { in.Gateway.Workloads = nil },
			problems: [][]string{{ReasonNotAGatewayService, "istio-system/istio-ingressgateway", "selects no Istio gateway pods"}},
		},
		{
			sentence: "a Service that also selects an application's pods is refused, naming them",
			change: func(in *Input) {
				in.Gateway.Workloads = append(in.Gateway.Workloads, frontend.Workload{Kind: "Deployment", Name: "shop"})
			},
			problems: [][]string{{ReasonNotAGatewayService, "Deployment istio-system/shop", "not Istio gateway pods"}},
		},
		{
			sentence: "a namespace outside the policy gets that one problem, whatever else is wrong",
			change: func(in *Input) {
				in.Policy.Namespaces = mustSelector(t, "istio-alb.io/allowed=true")
				in.Annotations[annotations.Scheme] = "public"
			},
			problems: [][]string{{ReasonNamespaceNotAllowed, "test-ns", "--namespace-selector=istio-alb.io/allowed=true", "team=web"}},
		},
		{
			sentence: "a namespace the policy selects is served",
			change:   func(in *Input) { in.Policy.Namespaces = mustSelector(t, "team in (web,mobile)") },
			check: func(t *testing.T, p *GatewayPlan) {
				if p.Stack == nil {
					t.Fatal("no stack")
				}
			},
		},
		{
			sentence: "an internet-facing ALB in a namespace allowed only internal ones is refused",
			change:   func(in *Input) { in.Policy.InternetFacing = mustSelector(t, "exposure=public") },
			problems: [][]string{{ReasonSchemeNotAllowed, annotations.Scheme, `"internet-facing"`, "--internet-facing-namespace-selector=exposure=public", "internal"}},
		},
		{
			sentence: "an internal ALB in that namespace is built",
			change: func(in *Input) {
				in.Policy.InternetFacing = mustSelector(t, "exposure=public")
				in.Annotations[annotations.Scheme] = annotations.SchemeInternal
			},
			check: func(t *testing.T, p *GatewayPlan) {
				if p.Stack == nil || p.Stack.LoadBalancer.Scheme != annotations.SchemeInternal {
					t.Fatalf("stack %+v", p.Stack)
				}
			},
		},
		{
			sentence: "hosts outside the domain filter get no record and a warning; the ALB is built",
			change: func(in *Input) {
				in.Policy.Domains = endpoint.NewDomainFilter([]string{"shop.example.com"})
				in.Annotations[annotations.Hostnames] = "api.shop.example.com"
			},
			check: func(t *testing.T, p *GatewayPlan) {
				if p.Stack == nil || !slices.Equal(p.Stack.DNS.Names, []string{"api.shop.example.com"}) {
					t.Fatalf("dns %+v", p.Stack.DNS)
				}
				if !slices.ContainsFunc(p.Notes, func(n Note) bool {
					return n.Warning && n.Reason == ReasonHostOutsideDomainFilter && strings.Contains(n.Message, "istio-test-alb.example.com") && strings.Contains(n.Message, "shop.example.com")
				}) {
					t.Fatalf("notes %+v", p.Notes)
				}
			},
		},
		{
			sentence: "the policy's default CIDRs and tags apply; a Gateway's annotations win",
			change: func(in *Input) {
				in.Policy.Defaults = annotations.Defaults{InboundCIDRs: []string{"10.0.0.0/8", "fd00::/8"}, Tags: map[string]string{"cost-center": "42", "team": "platform"}}
				in.Annotations[annotations.Tags] = "team=web"
			},
			check: func(t *testing.T, p *GatewayPlan) {
				if !slices.Equal(p.Config.InboundCIDRs, []string{"10.0.0.0/8"}) {
					t.Fatalf("inbound CIDRs %v (an IPv6 default applies to dualstack only)", p.Config.InboundCIDRs)
				}
				if p.Config.Tags["cost-center"] != "42" || p.Config.Tags["team"] != "web" {
					t.Fatalf("tags %v", p.Config.Tags)
				}
			},
		},
		{
			sentence: "an inbound-cidrs annotation replaces the policy's default",
			change: func(in *Input) {
				in.Policy.Defaults = annotations.Defaults{InboundCIDRs: []string{"10.0.0.0/8"}}
				in.Annotations[annotations.InboundCIDRs] = "192.168.0.0/16"
			},
			check: func(t *testing.T, p *GatewayPlan) {
				if !slices.Equal(p.Config.InboundCIDRs, []string{"192.168.0.0/16"}) {
					t.Fatalf("inbound CIDRs %v", p.Config.InboundCIDRs)
				}
			},
		},
		{
			sentence: "a dry run of a group member is planned like its real run",
			change: func(in *Input) {
				in.Annotations[annotations.DryRun] = "true"
				in.Annotations[annotations.Group] = "shop"
			},
			check: func(t *testing.T, p *GatewayPlan) {
				if !p.Config.DryRun || p.Config.Group != "shop" || p.Stack == nil {
					t.Fatalf("dry run %v, group %q, stack %v", p.Config.DryRun, p.Config.Group, p.Stack != nil)
				}
			},
		},
		{
			sentence: "an unknown SSL policy is reported",
			change: func(in *Input) {
				in.Annotations[annotations.SSLPolicy] = "NoSuchPolicy"
				in.AWS.SSLPolicies = map[string]bool{"NoSuchPolicy": false}
			},
			problems: [][]string{{ReasonInvalidAnnotation, annotations.SSLPolicy, "NoSuchPolicy"}},
		},
		{
			sentence: "a named certificate that does not exist is reported",
			change: func(in *Input) {
				in.Annotations[annotations.CertificateARNs] = "arn:aws:acm:us-east-1:123456789012:certificate/gone"
			},
			problems: [][]string{{ReasonInvalidAnnotation, "certificate/gone", "does not exist"}},
		},
	}
	for _, c := range cases {
		t.Run(c.sentence, func(t *testing.T) {
			in := planInput()
			if c.change != nil {
				c.change(&in)
			}
			plan, problems := Plan(in)
			if len(c.problems) == 0 {
				if len(problems) > 0 {
					t.Fatalf("unexpected problems %v", problems)
				}
				c.check(t, plan)
				return
			}
			if plan != nil {
				t.Fatalf("a plan came with problems: %+v", plan)
			}
			if len(problems) != len(c.problems) {
				t.Fatalf("%d problems, want %d: %v", len(problems), len(c.problems), problems)
			}
			for _, want := range c.problems {
				if !slices.ContainsFunc(problems, func(p Problem) bool {
					if p.Reason != want[0] {
						return false
					}
					for _, w := range want[1:] {
						if !strings.Contains(p.Message, w) {
							return false
						}
					}
					return true
				}) {
					t.Errorf("no problem %v among %v", want, problems)
				}
			}
		})
	}
}

func mustSelector(t *testing.T, s string) labels.Selector {
	t.Helper()
	sel, err := labels.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return sel
}
