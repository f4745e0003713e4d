package build

import (
	"fmt"
	"strings"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build/annotations"
	"github.com/istio-alb-operator/istio-alb-operator/aws/build/frontend"
)

// Reasons of the backend checks: where the ALB forwards, a request must neither come back as a
// redirect to where it came from nor be reset.
const (
	// ReasonHTTPSRedirectLoop: the only server the ALB can forward to redirects to https the
	// requests the ALB took over HTTPS; a problem (nothing is written).
	ReasonHTTPSRedirectLoop = "HTTPSRedirectLoop"
	// ReasonSNIRequired: the only server the ALB can forward to is an HTTPS server matching SNI,
	// which the ALB does not send to targets; a problem (nothing is written).
	ReasonSNIRequired = "SNIRequired"
	// ReasonHTTPSRedirectUnserved: the gateway redirects HTTP to https but the ALB has no HTTPS
	// listener; a warning, the rest is built.
	ReasonHTTPSRedirectUnserved = "HTTPSRedirectUnserved"
)

// checkBackend checks the server the ALB forwards to (frontend.BackendTarget), given whether the
// ALB terminates HTTPS (has certificates for an HTTPS listener).
func checkBackend(fe *frontend.Frontend, https bool) ([]Problem, []Note) {
	t, err := fe.BackendTarget()
	if err != nil {
		return nil, nil // checkService reports it
	}
	switch t.Protocol {
	case "HTTPS":
		if s := t.Servers[0]; s.MatchesSNI() {
			return []Problem{{Reason: ReasonSNIRequired, Message: fmt.Sprintf(
				"%s (tls.mode %s, hosts %s) is the only server the ALB can forward to, and Envoy takes TLS connections to it only with an SNI naming one of its hosts: the ALB opens its TLS connections to targets without SNI, so every request would be reset (502 at the ALB). "+
					"Add \"*\" to its hosts (Gateway API: a listener without hostname), or add a plain HTTP server for the ALB to forward to; nothing is changed until then",
				s.Describe(), s.TLSMode, strings.Join(s.Hosts, ","))}}, nil
		}
		return nil, nil
	}
	if !t.Redirects() {
		return nil, nil
	}
	servers := describeRedirecting(t)
	if !https {
		return nil, []Note{{true, ReasonHTTPSRedirectUnserved, fmt.Sprintf(
			"%s: it redirects plain-HTTP requests to https, but the ALB has no HTTPS listener (no usable ACM certificate covers the gateway's hosts, see %s, or a requested one is pending): redirected clients find nothing on port 443",
			servers, ReasonCertificateNotFound)}}
	}
	if !t.RedirectsTerminated(fe.TrustsForwardedProto()) {
		return nil, nil
	}
	return []Problem{{Reason: ReasonHTTPSRedirectLoop, Message: loopMessage(fe, t, servers)}}, nil
}

// describeRedirecting names the target's redirecting servers and how they redirect.
func describeRedirecting(t frontend.Target) string {
	var out []string
	for _, s := range t.Servers {
		if how := s.DescribeRedirect(); how != "" {
			out = append(out, fmt.Sprintf("%s with %s", s.Describe(), how))
		}
	}
	return strings.Join(out, "; ")
}

// loopMessage says why the requests would loop and what the user can change.
func loopMessage(fe *frontend.Frontend, t frontend.Target, servers string) string {
	why := "the ALB terminates TLS and would forward its HTTPS requests to it over plain HTTP"
	unconditional := false
	for _, s := range t.Servers {
		unconditional = unconditional || len(s.RedirectRoutes) > 0
	}
	// A TLS server the ALB could re-encrypt to but for SNI.
	var sniServer *frontend.Server
	for i, s := range fe.Servers {
		if s.ReEncryptable() && s.MatchesSNI() {
			sniServer = &fe.Servers[i]
			break
		}
	}
	var fixes []string
	if unconditional {
		why += ", and a RequestRedirect answers every request it matches, whatever X-Forwarded-Proto says, so every HTTPS request would be redirected to https again (a loop)"
		fixes = append(fixes, fmt.Sprintf("detach the redirecting route from this listener and let the ALB redirect HTTP to HTTPS (%s, on by default)", annotations.SSLRedirect))
		if sniServer != nil {
			fixes = append(fixes, fmt.Sprintf("or remove the hostname of %s, whose SNI match on %s the ALB cannot meet (it sends no SNI), so that the ALB re-encrypts to it",
				sniServer.Describe(), strings.Join(sniServer.Hosts, ",")))
		} else {
			fixes = append(fixes, "or add an HTTPS listener (mode Terminate) without hostname for the ALB to re-encrypt to")
		}
	} else {
		pods := fe.TrustedProxiesFrom
		if pods == "" {
			pods = "the gateway pods"
		}
		why += fmt.Sprintf(", and Envoy believes the ALB's X-Forwarded-Proto: https only from a trusted proxy, which %s do not declare (no gatewayTopology.numTrustedProxies in their proxy.istio.io/config annotation), so every HTTPS request would be redirected to https again (a loop)", pods)
		fixes = append(fixes,
			`set numTrustedProxies on the gateway pods' template, annotation proxy.istio.io/config: '{"gatewayTopology":{"numTrustedProxies":1}}' (the operator cannot see a mesh-wide meshConfig.defaultConfig, so set it on the pods even then)`,
			fmt.Sprintf("or remove tls.httpsRedirect and let the ALB redirect HTTP to HTTPS (%s, on by default)", annotations.SSLRedirect))
		if sniServer != nil {
			fixes = append(fixes, fmt.Sprintf(`or add "*" to the hosts of %s, whose SNI match on %s the ALB cannot meet (it sends no SNI), so that the ALB re-encrypts to it`,
				sniServer.Describe(), strings.Join(sniServer.Hosts, ",")))
		} else {
			fixes = append(fixes, `or add an HTTPS server (tls.mode SIMPLE) with hosts "*" for the ALB to re-encrypt to`)
		}
	}
	return fmt.Sprintf("%s: %s. To fix it, %s; nothing is changed until then", servers, why, strings.Join(fixes, ", "))
}

// whyNotBehindALB says why a gateway server's TLS mode cannot be served through an ALB, which
// terminates the client's TLS itself.
func whyNotBehindALB(mode string) string {
	switch mode {
	case "MUTUAL", "OPTIONAL_MUTUAL":
		return "the ALB terminates the client's TLS, so the client certificate the gateway would verify never reaches it"
	case "ISTIO_MUTUAL":
		return "the gateway expects Istio's mesh certificates from its clients, which the ALB does not have"
	case "PASSTHROUGH", "AUTO_PASSTHROUGH":
		return "the gateway routes the client's TLS stream by its SNI, and the ALB terminates that stream"
	}
	return "the ALB terminates TLS"
}
