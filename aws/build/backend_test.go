package build

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build/annotations"
	"github.com/istio-alb-operator/istio-alb-operator/aws/build/frontend"
)

const tlsHost = "istio-test-alb.example.com" // covered by the *.example.com certificate of planInput

func httpServer(redirect bool) frontend.Server {
	return frontend.Server{Port: 80, Protocol: "HTTP", Hosts: []string{tlsHost}, HTTPSRedirect: redirect}
}

func tlsServer(mode string, hosts ...string) frontend.Server {
	if len(hosts) == 0 {
		hosts = []string{tlsHost}
	}
	return frontend.Server{Port: 443, Protocol: "HTTPS", Hosts: hosts, TLSMode: mode}
}

// shape sums up the listeners and target group of a plan: "80=redirect 443=forward tg=HTTP:30080".
func shape(p *GatewayPlan) string {
	if p == nil || p.Stack == nil {
		return "no stack"
	}
	var out []string
	for _, l := range p.Stack.Listeners {
		action := "forward"
		if l.DefaultAction.Redirect != nil {
			action = "redirect"
		}
		out = append(out, fmt.Sprintf("%d=%s", l.Port, action))
	}
	tg := p.Stack.TargetGroups[0]
	return strings.Join(append(out, fmt.Sprintf("tg=%s:%d", tg.Protocol, tg.Port)), " ")
}

// TestTheALBForwardsWhereNoRequestLoopsOrIsReset is the decision table of the README's "Istio
// server shapes → ALB shape": for each combination of plain-HTTP server (with or without a
// redirect to https), TLS server (mode, SNI) and HTTPS listener (a certificate covers the hosts
// or not), where the ALB forwards, or the problem that stops the plan.
func TestTheALBForwardsWhereNoRequestLoopsOrIsReset(t *testing.T) {
	const (
		forwardHTTP  = "80=redirect 443=forward tg=HTTP:30080"
		forwardHTTPS = "80=redirect 443=forward tg=HTTPS:30443"
		onlyHTTP     = "80=forward tg=HTTP:30080"
		onlyHTTPS    = "80=forward tg=HTTPS:30443"
	)
	cases := []struct {
		sentence      string
		servers       []frontend.Server
		trusted       bool // the gateway pods set numTrustedProxies: 1
		noCert        bool // no certificate covers the hosts: no HTTPS listener
		noSSLRedirect bool
		// want is the shape, or the reason of the one problem.
		want string
		// notes are reasons of warnings the plan carries.
		notes []string
		// mentions are words the problem or the first note must contain.
		mentions []string
	}{
		{sentence: "a plain HTTP server takes both listeners' traffic", servers: []frontend.Server{httpServer(false)}, want: forwardHTTP},
		{sentence: "a plain HTTP server without certificate is served over HTTP", servers: []frontend.Server{httpServer(false)}, noCert: true, want: onlyHTTP,
			notes: []string{ReasonCertificateNotFound}},
		{sentence: "a plain HTTP server wins over a SIMPLE server, which the ALB terminates in its place",
			servers: []frontend.Server{httpServer(false), tlsServer(frontend.TLSSimple)}, want: forwardHTTP},

		{sentence: "httpsRedirect without trusting the ALB and nothing else to forward to loops: nothing is written",
			servers: []frontend.Server{httpServer(true)}, want: ReasonHTTPSRedirectLoop,
			mentions: []string{"server on port 80 (HTTP) with tls.httpsRedirect", "numTrustedProxies", "proxy.istio.io/config", annotations.SSLRedirect, `hosts "*"`}},
		{sentence: "httpsRedirect with the gateway pods trusting the ALB's X-Forwarded-Proto is forwarded to",
			servers: []frontend.Server{httpServer(true)}, trusted: true, want: forwardHTTP},
		{sentence: "httpsRedirect trusted and ssl-redirect off: the gateway itself redirects the ALB's HTTP requests",
			servers: []frontend.Server{httpServer(true)}, trusted: true, noSSLRedirect: true, want: "80=forward 443=forward tg=HTTP:30080"},
		{sentence: "httpsRedirect untrusted beside a SIMPLE server for any host: the ALB re-encrypts to the SIMPLE server",
			servers: []frontend.Server{httpServer(true), tlsServer(frontend.TLSSimple, "*")}, want: forwardHTTPS},
		{sentence: "httpsRedirect untrusted beside a SIMPLE server matching SNI loops, and the message says why the SIMPLE server does not do",
			servers: []frontend.Server{httpServer(true), tlsServer(frontend.TLSSimple)}, want: ReasonHTTPSRedirectLoop,
			mentions: []string{`add "*" to the hosts of server on port 443 (HTTPS), whose SNI match on ` + tlsHost}},
		{sentence: "httpsRedirect without an HTTPS listener is built and warned about: redirected clients find nothing on 443",
			servers: []frontend.Server{httpServer(true)}, noCert: true, want: onlyHTTP,
			notes: []string{ReasonCertificateNotFound, ReasonHTTPSRedirectUnserved}},
		{sentence: "httpsRedirect trusted without an HTTPS listener is warned about too",
			servers: []frontend.Server{httpServer(true)}, trusted: true, noCert: true, want: onlyHTTP,
			notes: []string{ReasonCertificateNotFound, ReasonHTTPSRedirectUnserved}},
		{sentence: "httpsRedirect untrusted beside a SIMPLE server for any host, without certificate, forwards HTTP to the SIMPLE server",
			servers: []frontend.Server{httpServer(true), tlsServer(frontend.TLSSimple, "*")}, noCert: true, want: onlyHTTPS,
			notes: []string{ReasonCertificateNotFound}},

		{sentence: "a SIMPLE server matching SNI alone is reset by Envoy for want of SNI: nothing is written",
			servers: []frontend.Server{tlsServer(frontend.TLSSimple)}, want: ReasonSNIRequired,
			mentions: []string{"server on port 443 (HTTPS)", tlsHost, "without SNI", `"*"`}},
		{sentence: "a SIMPLE server whose hosts include * takes the re-encrypted traffic",
			servers: []frontend.Server{tlsServer(frontend.TLSSimple, tlsHost, "*")}, want: forwardHTTPS},
		{sentence: "a SIMPLE server with ns/* hosts takes connections without SNI too",
			servers: []frontend.Server{tlsServer(frontend.TLSSimple, tlsHost, "apps/*")}, want: forwardHTTPS},
		{sentence: "a SIMPLE server for any host without certificate gets the ALB's HTTP traffic re-encrypted",
			servers: []frontend.Server{tlsServer(frontend.TLSSimple, "*")}, noCert: true, want: onlyHTTPS},

		{sentence: "a plain HTTP server beside a MUTUAL server is forwarded to, the MUTUAL server reported",
			servers: []frontend.Server{httpServer(false), tlsServer("MUTUAL")}, want: forwardHTTP,
			notes: []string{ReasonUnsupportedTLS}, mentions: []string{"client certificate"}},
		{sentence: "OPTIONAL_MUTUAL is not re-encrypted to: the client certificate would never reach it",
			servers: []frontend.Server{httpServer(false), tlsServer("OPTIONAL_MUTUAL", "*")}, want: forwardHTTP,
			notes: []string{ReasonUnsupportedTLS}, mentions: []string{"OPTIONAL_MUTUAL", "client certificate"}},
		{sentence: "ISTIO_MUTUAL is reported",
			servers: []frontend.Server{httpServer(false), tlsServer("ISTIO_MUTUAL", "*")}, want: forwardHTTP,
			notes: []string{ReasonUnsupportedTLS}, mentions: []string{"mesh certificates"}},
		{sentence: "PASSTHROUGH is reported",
			servers: []frontend.Server{httpServer(false), tlsServer("PASSTHROUGH")}, want: forwardHTTP,
			notes: []string{ReasonUnsupportedTLS}, mentions: []string{"SNI"}},
		{sentence: "AUTO_PASSTHROUGH is reported",
			servers: []frontend.Server{httpServer(false), {Port: 15443, Protocol: "TLS", Hosts: []string{"*.mesh.example.com"}, TLSMode: "AUTO_PASSTHROUGH"}},
			want:    forwardHTTP, notes: []string{ReasonUnsupportedTLS, ReasonCertificateNotFound}},
		{sentence: "a MUTUAL server alone leaves nothing to forward to",
			servers: []frontend.Server{tlsServer("MUTUAL", "*")}, want: ReasonInvalidGateway, mentions: []string{"no HTTP server"}},
		{sentence: "httpsRedirect untrusted beside a PASSTHROUGH server loops",
			servers: []frontend.Server{httpServer(true), tlsServer("PASSTHROUGH", "*")}, want: ReasonHTTPSRedirectLoop},

		{sentence: "a Gateway API redirect route loops even when the pods trust the ALB: a RequestRedirect is unconditional",
			servers: []frontend.Server{{Name: "http", Port: 80, Protocol: "HTTP", Hosts: []string{tlsHost}, RedirectRoutes: []string{"HTTPRoute web/redirect"}}},
			trusted: true, want: ReasonHTTPSRedirectLoop,
			mentions: []string{"listener http (HTTP, port 80) with HTTPRoute web/redirect", "whatever X-Forwarded-Proto says", "detach"}},
		{sentence: "a Gateway API redirect route beside an HTTPS listener without hostname: the ALB re-encrypts to the HTTPS listener",
			servers: []frontend.Server{
				{Name: "http", Port: 80, Protocol: "HTTP", Hosts: []string{"*"}, RedirectRoutes: []string{"HTTPRoute web/redirect"}},
				{Name: "https", Port: 443, Protocol: "HTTPS", Hosts: []string{"*"}, TLSMode: frontend.TLSSimple},
			}, want: "80=forward tg=HTTPS:30443"},
	}
	for _, c := range cases {
		t.Run(c.sentence, func(t *testing.T) {
			in := planInput()
			in.Gateway.Servers = c.servers
			if c.trusted {
				in.Gateway.TrustedProxies, in.Gateway.TrustedProxiesFrom = 1, "Deployment istio-system/istio-ingressgateway"
			}
			if c.noCert {
				in.AWS.Issued = nil
			}
			if c.noSSLRedirect {
				in.Annotations[annotations.SSLRedirect] = "false"
			}
			plan, problems := Plan(in)
			var text string
			if strings.Contains(c.want, "=") {
				if len(problems) > 0 {
					t.Fatalf("problems %v, want %s", problems, c.want)
				}
				if got := shape(plan); got != c.want {
					t.Fatalf("shape %q, want %q", got, c.want)
				}
				var reasons []string
				for _, n := range plan.Notes {
					reasons, text = append(reasons, n.Reason), text+n.Message+"\n"
				}
				if !slices.Equal(reasons, c.notes) {
					t.Fatalf("notes %v, want %v: %s", reasons, c.notes, text)
				}
			} else {
				if plan != nil || len(problems) != 1 || problems[0].Reason != c.want {
					t.Fatalf("plan %v problems %v, want the one problem %s", shape(plan), problems, c.want)
				}
				text = problems[0].Message
			}
			t.Log(text)
			for _, m := range c.mentions {
				if !strings.Contains(text, m) {
					t.Errorf("%q does not mention %q", text, m)
				}
			}
		})
	}
}
