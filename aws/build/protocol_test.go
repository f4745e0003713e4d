package build

import (
	"slices"
	"strings"
	"testing"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build/annotations"
	"github.com/istio-alb-operator/istio-alb-operator/aws/build/frontend"
	"github.com/istio-alb-operator/istio-alb-operator/aws/model"
	"github.com/istio-alb-operator/istio-alb-operator/health"
)

func TestTheServersTheALBForwardsToDecideTheProtocolVersion(t *testing.T) {
	http := func(port int32, protocol string, kinds ...string) frontend.Server {
		return frontend.Server{Port: port, Protocol: protocol, Hosts: []string{"*"}, RouteKinds: kinds}
	}
	cases := []struct {
		sentence string
		servers  []frontend.Server
		noHTTPS  bool
		ann      map[string]string
		want     string
		notes    []string // reason, then words of the message
	}{
		{sentence: "an Istio HTTP server keeps HTTP/1.1", servers: []frontend.Server{http(80, "HTTP")}, want: model.ProtocolVersionHTTP1},
		{sentence: "an Istio GRPC server gets gRPC", servers: []frontend.Server{http(80, "GRPC")}, want: model.ProtocolVersionGRPC},
		{sentence: "an Istio HTTP2 server gets HTTP/2", servers: []frontend.Server{http(80, "HTTP2")}, want: model.ProtocolVersionHTTP2},
		{sentence: "GRPC and HTTP2 servers on one port share HTTP/2, which carries gRPC",
			servers: []frontend.Server{http(80, "GRPC"), http(80, "HTTP2")}, want: model.ProtocolVersionHTTP2},
		{sentence: "a GRPC server beside an HTTP/1.1 server on the port keeps HTTP/1.1 and warns naming both",
			servers: []frontend.Server{http(80, "HTTP"), http(80, "GRPC")}, want: model.ProtocolVersionHTTP1,
			notes: []string{ReasonMixedProtocolVersions, "server on port 80 (GRPC)", "server on port 80 (HTTP)", "own port"}},
		{sentence: "a GRPC server on a port the ALB does not forward to changes nothing",
			servers: []frontend.Server{http(80, "HTTP"), http(9090, "GRPC")}, want: model.ProtocolVersionHTTP1},
		{sentence: "a Gateway API listener with only GRPCRoutes gets gRPC",
			servers: []frontend.Server{http(80, "HTTP", frontend.KindGRPCRoute)}, want: model.ProtocolVersionGRPC},
		{sentence: "a Gateway API listener with HTTPRoutes and GRPCRoutes keeps HTTP/1.1 and warns",
			servers: []frontend.Server{http(80, "HTTP", frontend.KindGRPCRoute, frontend.KindHTTPRoute)}, want: model.ProtocolVersionHTTP1,
			notes: []string{ReasonMixedProtocolVersions, "GRPCRoutes and HTTPRoutes"}},
		{sentence: "a Gateway API listener without routes keeps HTTP/1.1",
			servers: []frontend.Server{http(80, "HTTP")}, want: model.ProtocolVersionHTTP1},
		{sentence: "gRPC without a certificate stays HTTP/1.1: the ALB sends gRPC only from HTTPS listeners",
			servers: []frontend.Server{http(80, "GRPC")}, noHTTPS: true, want: model.ProtocolVersionHTTP1,
			notes: []string{ReasonProtocolVersionNeedsHTTPS, "GRPC", "HTTPS listener", annotations.RequestCertificate}},
		{sentence: "gRPC with ssl-redirect false still redirects HTTP, and says why",
			servers: []frontend.Server{http(80, "GRPC")}, ann: map[string]string{annotations.SSLRedirect: "false"}, want: model.ProtocolVersionGRPC,
			notes: []string{ReasonProtocolVersionNeedsHTTPS, annotations.SSLRedirect + "=false", "redirects to HTTPS"}},
		{sentence: "a SIMPLE TLS server the ALB re-encrypts to keeps HTTP/1.1",
			servers: []frontend.Server{{Port: 443, Protocol: "HTTPS", Hosts: []string{"a.example.com"}, TLSMode: frontend.TLSSimple}}, want: model.ProtocolVersionHTTP1},
		{sentence: "a terminated HTTPS listener with only GRPCRoutes gets gRPC over TLS",
			servers: []frontend.Server{{Name: "https", Port: 443, Protocol: "HTTPS", Hosts: []string{"*"}, TLSMode: frontend.TLSSimple,
				RouteKinds: []string{frontend.KindGRPCRoute}}}, want: model.ProtocolVersionGRPC},
	}
	for _, c := range cases {
		t.Run(c.sentence, func(t *testing.T) {
			fe := article()
			fe.Servers = c.servers
			ann := map[string]string{annotations.Enabled: "true"}
			for k, v := range c.ann {
				ann[k] = v
			}
			cfg, errs := annotations.Parse(ann)
			if len(errs) > 0 {
				t.Fatal(errs.ToAggregate())
			}
			got, notes := ProtocolVersion(fe, cfg, !c.noHTTPS)
			if got != c.want {
				t.Fatalf("protocol version %s, want %s", got, c.want)
			}
			if len(c.notes) == 0 {
				if len(notes) > 0 {
					t.Fatalf("unexpected notes %v", notes)
				}
				return
			}
			if len(notes) != 1 || !notes[0].Warning || notes[0].Reason != c.notes[0] {
				t.Fatalf("notes %v, want one Warning %s", notes, c.notes[0])
			}
			for _, w := range c.notes[1:] {
				if !strings.Contains(notes[0].Message, w) {
					t.Errorf("note %q does not mention %q", notes[0].Message, w)
				}
			}
		})
	}
}

func TestAGRPCTargetGroupIsItsOwnGroupWithAGRPCHealthCheckBehindHTTPSOnly(t *testing.T) {
	owner := planInput().Owner
	tls := env
	tls.Certificates, tls.SSLPolicy = []string{wildARN}, "ELBSecurityPolicy-TLS13-1-2-2021-06"
	build := func(protocol string, ann map[string]string) *model.Stack {
		t.Helper()
		fe := article()
		fe.Servers[0].Protocol = protocol
		a := map[string]string{annotations.Enabled: "true", annotations.SSLRedirect: "false"}
		for k, v := range ann {
			a[k] = v
		}
		cfg, errs := annotations.Parse(a)
		if len(errs) > 0 {
			t.Fatal(errs.ToAggregate())
		}
		s, err := Build(owner, fe, cfg, tls)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	h1, h2, grpc := build("HTTP", nil), build("HTTP2", nil), build("GRPC", nil)
	names := []string{h1.TargetGroups[0].Name, h2.TargetGroups[0].Name, grpc.TargetGroups[0].Name}
	if distinct := slices.Compact(slices.Sorted(slices.Values(names))); len(distinct) != 3 {
		t.Fatalf("names %v: a protocol version change must replace the target group (it cannot change in place)", names)
	}
	legacy := owner.Name(model.ResourceTargetGroup, "30080", "HTTP", "instance", "vpc-1")
	if h1.TargetGroups[0].Name != legacy {
		t.Fatalf("the HTTP1 group is named %s, want %s as before protocol versions (no replacement on upgrade)", h1.TargetGroups[0].Name, legacy)
	}
	g := grpc.TargetGroups[0]
	if g.ProtocolVersion != model.ProtocolVersionGRPC || g.HealthCheck.Path != health.GRPCPath || g.HealthCheck.Matcher != health.GRPCSuccessCode ||
		g.HealthCheck.Port != "31021" || g.HealthCheck.Protocol != "HTTP" {
		t.Fatalf("gRPC group %+v", g)
	}
	if hc := h2.TargetGroups[0].HealthCheck; h2.TargetGroups[0].ProtocolVersion != model.ProtocolVersionHTTP2 || hc.Path != "/healthz/ready" || hc.Matcher != "200" {
		t.Fatalf("HTTP2 group %+v", h2.TargetGroups[0])
	}
	if grpc.Listeners[0].DefaultAction.Redirect == nil || h2.Listeners[0].DefaultAction.Redirect == nil {
		t.Fatal("the HTTP listener of a gRPC or HTTP2 group must redirect: the ALB refuses to forward HTTP to it")
	}
	if h1.Listeners[0].DefaultAction.ForwardTo == "" {
		t.Fatal("ssl-redirect=false keeps HTTP forwarding to an HTTP1 group")
	}
	own := build("GRPC", map[string]string{annotations.HealthCheckPath: "/grpc.health.v1.Health/Check", annotations.SuccessCodes: "0",
		annotations.HealthCheckPort: "traffic-port"}).TargetGroups[0].HealthCheck
	if own.Path != "/grpc.health.v1.Health/Check" || own.Matcher != "0" || own.Port != "30080" {
		t.Fatalf("the user's gRPC health check %+v", own)
	}
}

func TestSuccessCodesMustFitTheProtocolVersion(t *testing.T) {
	grpc := func(in *Input) { in.Gateway.Servers[0].Protocol = "GRPC" }
	cases := []struct {
		sentence string
		change   func(*Input)
		codes    string
		problem  []string
	}{
		{"HTTP codes on a gRPC group are refused naming the annotation", grpc, "200", []string{annotations.SuccessCodes, `"200"`, "gRPC status codes"}},
		{"gRPC codes on an HTTP/1.1 group are refused naming the annotation", nil, "12", []string{annotations.SuccessCodes, `"12"`, "HTTP codes"}},
		{"gRPC codes on a gRPC group are taken", grpc, "0-2", nil},
		{"HTTP codes on an HTTP/1.1 group are taken", nil, "200-299", nil},
	}
	for _, c := range cases {
		t.Run(c.sentence, func(t *testing.T) {
			in := planInput()
			in.Annotations[annotations.SuccessCodes] = c.codes
			if c.change != nil {
				c.change(&in)
			}
			p, probs := Plan(in)
			if c.problem == nil {
				if len(probs) > 0 || p.Stack.TargetGroups[0].HealthCheck.Matcher != c.codes {
					t.Fatalf("problems %v", probs)
				}
				return
			}
			if len(probs) != 1 || probs[0].Reason != ReasonInvalidAnnotation {
				t.Fatalf("problems %v", probs)
			}
			for _, w := range c.problem {
				if !strings.Contains(probs[0].Message, w) {
					t.Errorf("problem %q does not mention %q", probs[0].Message, w)
				}
			}
		})
	}
}

func TestPlanWarnsWhenGRPCServersShareTheGroupWithHTTP1(t *testing.T) {
	in := planInput()
	in.Gateway.Servers = append(in.Gateway.Servers, frontend.Server{Port: 80, Protocol: "GRPC", Hosts: []string{"grpc.example.com"}})
	p, probs := Plan(in)
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	if p.Stack.TargetGroups[0].ProtocolVersion != model.ProtocolVersionHTTP1 ||
		!slices.ContainsFunc(p.Notes, func(n Note) bool { return n.Warning && n.Reason == ReasonMixedProtocolVersions }) {
		t.Fatalf("version %s notes %v", p.Stack.TargetGroups[0].ProtocolVersion, p.Notes)
	}
}

func TestTargetGroupAttributesCarryTheDefaultsAndAWSsDefaultsOfTheRest(t *testing.T) {
	in := planInput()
	p, _ := Plan(in)
	tg := p.Stack.TargetGroups[0]
	if len(tg.Attributes) != 1 || tg.Attributes[annotations.DeregistrationDelay] != annotations.DefaultDeregistrationDelay {
		t.Fatalf("a plain gateway's attributes %v", tg.Attributes)
	}
	if _, ok := tg.DefaultAttributes[annotations.DeregistrationDelay]; ok || tg.DefaultAttributes["stickiness.enabled"] != "false" {
		t.Fatalf("defaults %v", tg.DefaultAttributes)
	}
	in.Annotations[annotations.TargetGroupAttributes] = "stickiness.enabled=true"
	q, _ := Plan(in)
	if q.Stack.TargetGroups[0].Attributes["stickiness.enabled"] != "true" || q.Stack.Hash() == p.Stack.Hash() {
		t.Fatal("an attribute set must be in the stack and change its hash")
	}
	if _, ok := q.Stack.TargetGroups[0].DefaultAttributes["stickiness.enabled"]; ok {
		t.Fatal("an attribute set is not reverted to its default")
	}
	in.Annotations[annotations.TargetGroupAttributes] = "stickiness.enabled=maybe"
	if _, probs := Plan(in); len(probs) != 1 || !strings.Contains(probs[0].Message, annotations.TargetGroupAttributes) ||
		!strings.Contains(probs[0].Message, "stickiness.enabled=maybe") {
		t.Fatalf("problems %v", probs)
	}
}
