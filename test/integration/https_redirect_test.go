package integration_test

import (
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	istionet "istio.io/client-go/pkg/apis/networking/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build"
	"github.com/istio-alb-operator/istio-alb-operator/aws/clients"
	"github.com/istio-alb-operator/istio-alb-operator/test/fixtures"
	"github.com/istio-alb-operator/istio-alb-operator/test/rig"
)

// trustALB is the gateway pods' annotation that makes Envoy believe the ALB's X-Forwarded-Proto.
const trustALB = "gatewayTopology:\n  numTrustedProxies: 1\n"

const uncoveredHost = "app.example.net" // no certificate of the seed covers it: no HTTPS listener

func httpServer(redirect bool, hosts ...string) *networkingv1alpha3.Server {
	s := &networkingv1alpha3.Server{Port: &networkingv1alpha3.Port{Number: 80, Name: "http", Protocol: "HTTP"}, Hosts: hosts}
	if redirect {
		s.Tls = &networkingv1alpha3.ServerTLSSettings{HttpsRedirect: true}
	}
	return s
}

func tlsServer(port uint32, mode networkingv1alpha3.ServerTLSSettings_TLSmode, hosts ...string) *networkingv1alpha3.Server {
	protocol := "HTTPS"
	if mode == networkingv1alpha3.ServerTLSSettings_PASSTHROUGH || mode == networkingv1alpha3.ServerTLSSettings_AUTO_PASSTHROUGH {
		protocol = "TLS"
	}
	return &networkingv1alpha3.Server{Port: &networkingv1alpha3.Port{Number: port, Name: fmt.Sprintf("tls-%d", port), Protocol: protocol},
		Hosts: hosts, Tls: &networkingv1alpha3.ServerTLSSettings{Mode: mode, CredentialName: "cert"}}
}

// albShape reads the gateway's listeners and target group from AWS once the ALB has want
// listeners: "80=redirect 443=forward tg=HTTPS:<service port name>".
func (s *scenario) albShape(gatewayKey string, want int, svc *corev1.Service) string {
	s.t.Helper()
	var ls []elbv2types.Listener
	var tg elbv2types.TargetGroup
	must(s.t, rig.Eventually(waitAWS, 100*time.Millisecond, func() error {
		_, ls, tg = s.loadBalancer(gatewayKey)
		if len(ls) != want {
			return fmt.Errorf("%d listeners, want %d", len(ls), want)
		}
		return nil
	}))
	shape := ""
	for _, port := range []int32{80, 443} {
		if want == 1 && port == 443 {
			break
		}
		l := s.listener(ls, port)
		switch {
		case forwards(l, tg.TargetGroupArn):
			shape += fmt.Sprintf("%d=forward ", port)
		case port == 80 && len(l.DefaultActions) == 1 && l.DefaultActions[0].Type == elbv2types.ActionTypeEnumRedirect:
			r := l.DefaultActions[0].RedirectConfig
			if r == nil || aws.ToString(r.Protocol) != "HTTPS" || aws.ToString(r.Port) != "443" || r.StatusCode != elbv2types.RedirectActionStatusCodeEnumHttp301 {
				s.t.Fatalf("redirect %+v, want HTTPS:443 HTTP_301", r)
			}
			shape += "80=redirect "
		default:
			s.t.Fatalf("listener %d: %+v", port, l.DefaultActions)
		}
		if port == 443 && l.Protocol != elbv2types.ProtocolEnumHttps {
			s.t.Fatalf("listener 443 is %s", l.Protocol)
		}
	}
	name := "none"
	for _, p := range svc.Spec.Ports {
		if p.NodePort == aws.ToInt32(tg.Port) {
			name = p.Name
		}
	}
	return shape + fmt.Sprintf("tg=%s:%s", tg.Protocol, name)
}

// assertNothingWritten checks that a gateway with a problem got no AWS resource, no mutating
// call since before and no finalizer.
func (s *scenario) assertNothingWritten(name string, before map[clients.Call]int) {
	s.t.Helper()
	if calls := s.calls.Since(before); len(mutating(calls)) != 0 {
		s.t.Fatalf("a gateway with a problem made mutating AWS calls: %v", clients.Format(calls))
	}
	if by := s.owned(s.gatewayKey(name)); len(by) != 0 {
		s.t.Fatalf("a gateway with a problem got AWS resources: %v", by)
	}
	var gw istionet.Gateway
	must(s.t, s.k8s.Get(s.ctx, client.ObjectKey{Namespace: s.appNS, Name: name}, &gw))
	if len(gw.Finalizers) != 0 {
		s.t.Fatalf("a gateway with a problem got the finalizer %v", gw.Finalizers)
	}
}

// TestEachIstioServerShapeGetsTheALBShapeTheREADMEPromisesOrAProblem walks the README's table
// "Istio server shapes → ALB shape" against the emulator: the listeners and target group read
// back from AWS, or the Warning and nothing written.
func TestEachIstioServerShapeGetsTheALBShapeTheREADMEPromisesOrAProblem(t *testing.T) {
	cases := []struct {
		sentence    string
		servers     []*networkingv1alpha3.Server
		trusted     bool
		annotations map[string]string
		listeners   int // 1 (HTTP) or 2 (HTTP and HTTPS)
		want        string
		// reason is a problem (nothing written) when want is empty, else a warning beside the shape.
		reason   string
		mentions []string
	}{
		{
			sentence: "httpsRedirect behind the ALB's TLS without trusting the ALB would loop: a problem, nothing written",
			servers:  []*networkingv1alpha3.Server{httpServer(true, articleHost)},
			reason:   build.ReasonHTTPSRedirectLoop, mentions: []string{"server on port 80 (HTTP) with tls.httpsRedirect", "numTrustedProxies", "istio-alb.io/ssl-redirect"},
		},
		{
			sentence: "httpsRedirect with gateway pods that trust the ALB: the HTTP server, the ALB redirects HTTP",
			servers:  []*networkingv1alpha3.Server{httpServer(true, articleHost)}, trusted: true,
			listeners: 2, want: "80=redirect 443=forward tg=HTTP:http2",
		},
		{
			sentence: "httpsRedirect trusted with ssl-redirect off: both listeners forward, the gateway redirects HTTP itself",
			servers:  []*networkingv1alpha3.Server{httpServer(true, articleHost)}, trusted: true,
			annotations: map[string]string{"istio-alb.io/ssl-redirect": "false"},
			listeners:   2, want: "80=forward 443=forward tg=HTTP:http2",
		},
		{
			sentence: "httpsRedirect untrusted beside a SIMPLE server for any host: the ALB re-encrypts to the HTTPS port",
			servers: []*networkingv1alpha3.Server{httpServer(true, articleHost),
				tlsServer(443, networkingv1alpha3.ServerTLSSettings_SIMPLE, articleHost, "*")},
			listeners: 2, want: "80=redirect 443=forward tg=HTTPS:https",
		},
		{
			sentence: "httpsRedirect untrusted beside a SIMPLE server matching SNI would loop: a problem naming both",
			servers: []*networkingv1alpha3.Server{httpServer(true, articleHost),
				tlsServer(443, networkingv1alpha3.ServerTLSSettings_SIMPLE, articleHost)},
			reason: build.ReasonHTTPSRedirectLoop, mentions: []string{"tls.httpsRedirect", "server on port 443 (HTTPS), whose SNI match on " + articleHost},
		},
		{
			sentence: "a SIMPLE server matching SNI alone would reset every connection: a problem, nothing written",
			servers:  []*networkingv1alpha3.Server{tlsServer(443, networkingv1alpha3.ServerTLSSettings_SIMPLE, articleHost)},
			reason:   build.ReasonSNIRequired, mentions: []string{"server on port 443 (HTTPS)", articleHost, "without SNI"},
		},
		{
			sentence:  "httpsRedirect without a certificate for its hosts: HTTP only, and a warning that 443 serves nothing",
			servers:   []*networkingv1alpha3.Server{httpServer(true, uncoveredHost)},
			listeners: 1, want: "80=forward tg=HTTP:http2",
			reason: build.ReasonHTTPSRedirectUnserved, mentions: []string{"tls.httpsRedirect", "no HTTPS listener"},
		},
		{
			sentence: "a plain HTTP server beside MUTUAL, OPTIONAL_MUTUAL, ISTIO_MUTUAL and PASSTHROUGH servers: the HTTP server, the others reported",
			servers: []*networkingv1alpha3.Server{httpServer(false, articleHost),
				tlsServer(443, networkingv1alpha3.ServerTLSSettings_MUTUAL, "*"),
				tlsServer(8443, networkingv1alpha3.ServerTLSSettings_OPTIONAL_MUTUAL, "*"),
				tlsServer(9443, networkingv1alpha3.ServerTLSSettings_ISTIO_MUTUAL, "*"),
				tlsServer(15443, networkingv1alpha3.ServerTLSSettings_PASSTHROUGH, "*.mesh.example.com")},
			listeners: 2, want: "80=redirect 443=forward tg=HTTP:http2",
			reason: build.ReasonUnsupportedTLS, mentions: []string{"MUTUAL", "OPTIONAL_MUTUAL", "ISTIO_MUTUAL", "PASSTHROUGH", "client certificate"},
		},
	}
	for _, c := range cases {
		t.Run(c.sentence, func(t *testing.T) {
			s := newScenario(t, scenarioOptions{})
			svc := fixtures.IngressGatewayService(s.istioNS, s.selector)
			must(t, s.k8s.Create(s.ctx, svc))
			dep := fixtures.IngressGatewayDeployment(s.istioNS, s.selector, "/healthz/ready")
			if c.trusted {
				dep.Spec.Template.Annotations = map[string]string{"proxy.istio.io/config": trustALB}
			}
			must(t, s.k8s.Create(s.ctx, dep))
			ann := maps.Clone(enabled)
			maps.Copy(ann, c.annotations)
			gw := fixtures.Gateway(s.appNS, "gw", s.selector, nil, ann)
			gw.Spec.Servers = c.servers
			before := s.calls.Snapshot()
			must(t, s.k8s.Create(s.ctx, gw))
			if c.want == "" {
				s.eventsWith(s.appNS, "gw", c.reason, c.mentions...)
				s.assertNothingWritten("gw", before)
				return
			}
			s.waitDNS("gw")
			must(t, s.k8s.Get(s.ctx, client.ObjectKeyFromObject(svc), svc))
			if got := s.albShape(s.gatewayKey("gw"), c.listeners, svc); got != c.want {
				t.Fatalf("ALB %q, want %q; events: %s", got, c.want, s.eventSummary("gw"))
			}
			if c.reason != "" {
				s.eventsWith(s.appNS, "gw", c.reason, c.mentions...)
			}
		})
	}
}

func TestTrustingTheALBOnTheGatewayPodsMovesTheALBFromTheHTTPSPortToTheHTTPServer(t *testing.T) {
	s := newScenario(t, scenarioOptions{})
	svc := s.article("/healthz/ready")
	gw := fixtures.Gateway(s.appNS, "gw", s.selector, nil, enabled)
	gw.Spec.Servers = []*networkingv1alpha3.Server{httpServer(true, articleHost),
		tlsServer(443, networkingv1alpha3.ServerTLSSettings_SIMPLE, articleHost, "*")}
	must(t, s.k8s.Create(s.ctx, gw))
	s.waitDNS("gw")
	must(t, s.k8s.Get(s.ctx, client.ObjectKeyFromObject(svc), svc))
	if got := s.albShape(s.gatewayKey("gw"), 2, svc); got != "80=redirect 443=forward tg=HTTPS:https" {
		t.Fatalf("before trusting the ALB: %q", got)
	}

	// The gateway pods now trust one proxy: Envoy believes X-Forwarded-Proto, so the ALB forwards
	// to the HTTP server (no re-encryption), and the HTTPS target group is gone.
	var dep appsv1.Deployment
	must(t, s.k8s.Get(s.ctx, client.ObjectKey{Namespace: s.istioNS, Name: "istio-ingressgateway"}, &dep))
	dep.Spec.Template.Annotations = map[string]string{"proxy.istio.io/config": trustALB}
	must(t, s.k8s.Update(s.ctx, &dep))
	must(t, rig.Eventually(waitAWS, 200*time.Millisecond, func() error {
		by := s.owned(s.gatewayKey("gw"))
		if len(by["tg"]) != 1 {
			return fmt.Errorf("%d target groups", len(by["tg"]))
		}
		_, _, tg := s.loadBalancer(s.gatewayKey("gw"))
		if tg.Protocol != elbv2types.ProtocolEnumHttp || aws.ToInt32(tg.Port) != nodePort(svc, "http2") {
			return fmt.Errorf("target group %s:%d", tg.Protocol, aws.ToInt32(tg.Port))
		}
		return nil
	}))
	if got := s.albShape(s.gatewayKey("gw"), 2, svc); got != "80=redirect 443=forward tg=HTTP:http2" {
		t.Fatalf("after trusting the ALB: %q", got)
	}
	s.assertIdleReconcile("gw")
}

func TestAGatewayAPIRedirectRouteLoopsUnlessAnHTTPSListenerWithoutHostnameTakesTheTraffic(t *testing.T) {
	s := newScenario(t, scenarioOptions{istiod: true})
	const host = "secure.example.com"
	tlsConfig := &gwapiv1.ListenerTLSConfig{CertificateRefs: []gwapiv1.SecretObjectReference{{Name: "secure-cert"}}}
	before := s.calls.Snapshot()
	must(t, s.k8s.Create(s.ctx, fixtures.GatewayAPIGateway(s.istioNS, "gw", enabled,
		fixtures.HTTPListener("http", 80, host, gwapiv1.NamespacesFromSame),
		gwapiv1.Listener{Name: "https", Port: 443, Protocol: gwapiv1.HTTPSProtocolType, Hostname: ptrHostname(host), TLS: tlsConfig})))
	redirect := fixtures.HTTPRoute(s.istioNS, "to-https", s.istioNS, "gw", "http", host)
	redirect.Spec.Rules = []gwapiv1.HTTPRouteRule{{Filters: []gwapiv1.HTTPRouteFilter{{Type: gwapiv1.HTTPRouteFilterRequestRedirect,
		RequestRedirect: &gwapiv1.HTTPRequestRedirectFilter{Scheme: ptr.To("https"), StatusCode: ptr.To(301)}}}}}
	must(t, s.k8s.Create(s.ctx, redirect))
	s.eventsWith(s.istioNS, "gw", build.ReasonHTTPSRedirectLoop,
		"listener http (HTTP, port 80) with HTTPRoute "+s.istioNS+"/to-https", "whatever X-Forwarded-Proto says",
		"remove the hostname of listener https (HTTPS, port 443)")
	if calls := s.calls.Since(before); len(mutating(calls)) != 0 {
		t.Fatalf("a looping gateway made mutating AWS calls: %v", clients.Format(calls))
	}
	if by := s.owned(apiKey(s.istioNS, "gw")); len(by) != 0 {
		t.Fatalf("a looping gateway got AWS resources: %v", by)
	}

	// The HTTPS listener without hostname takes connections without SNI: the ALB re-encrypts to it.
	s.updateAPIGateway(s.istioNS, "gw", func(gw *gwapiv1.Gateway) { gw.Spec.Listeners[1].Hostname = nil })
	s.waitAPIGateway(s.istioNS, "gw")
	svc := &corev1.Service{}
	must(t, s.k8s.Get(s.ctx, client.ObjectKey{Namespace: s.istioNS, Name: "gw-istio"}, svc))
	if got := s.albShape(apiKey(s.istioNS, "gw"), 2, svc); got != "80=redirect 443=forward tg=HTTPS:https-443" {
		t.Fatalf("ALB %q", got)
	}
}
