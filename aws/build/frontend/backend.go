package frontend

import (
	"fmt"
	"strings"
)

// Target is the gateway port the ALB forwards every request to, whichever of its listeners took
// it (one target group per gateway).
type Target struct {
	Port ServicePort
	// Protocol is the target group's: HTTP to a plain-HTTP server, HTTPS to a TLS server the
	// ALB re-encrypts to.
	Protocol string
	// Servers are the gateway's servers Envoy serves on that port.
	Servers []Server
}

// BackendTarget chooses where the ALB forwards, so that a request it took over HTTPS is neither
// redirected back to https by the gateway (a loop) nor reset for want of SNI:
//
//  1. the plain-HTTP server (port 80, else the first), unless it redirects to https requests
//     the ALB terminated (RedirectsTerminated);
//  2. else a TLS server the ALB can re-encrypt to that takes connections without SNI (hosts
//     "*"), with an HTTPS target group;
//  3. else, for want of a safe one, the redirecting HTTP server, then an HTTPS server matching
//     SNI: the planner reports them (HTTPSRedirectLoop, SNIRequired) and writes nothing.
func (f *Frontend) BackendTarget() (Target, error) {
	var redirecting, sniOnly *Target
	port, err := f.HTTPServicePort()
	if err == nil {
		t := Target{Port: port, Protocol: "HTTP"}
		for _, s := range f.Servers {
			if sp, ok := f.servicePortFor(s.Port); ok && isPlainHTTP(s.Protocol) && sp == port {
				t.Servers = append(t.Servers, s)
			}
		}
		if !t.RedirectsTerminated(f.TrustsForwardedProto()) {
			return t, nil
		}
		redirecting = &t
	}
	for _, s := range f.Servers {
		if !s.ReEncryptable() {
			continue
		}
		sp, ok := f.servicePortFor(s.Port)
		if !ok {
			continue
		}
		t := Target{Port: sp, Protocol: "HTTPS", Servers: []Server{s}}
		if !s.MatchesSNI() {
			return t, nil
		}
		if sniOnly == nil {
			sniOnly = &t
		}
	}
	switch {
	case redirecting != nil:
		return *redirecting, nil
	case sniOnly != nil:
		return *sniOnly, nil
	}
	return Target{}, err
}

// TrustsForwardedProto reports whether the gateway's Envoy believes the X-Forwarded-Proto of
// the proxy in front of it (the ALB): it does when it trusts at least one proxy hop
// (gatewayTopology.numTrustedProxies, Envoy's xff_num_trusted_hops); otherwise it overwrites the
// header with the scheme of its own downstream connection.
func (f *Frontend) TrustsForwardedProto() bool { return f.TrustedProxies > 0 }

// RedirectsTerminated reports whether the target's servers send a request the ALB took over
// HTTPS and forwards over plain HTTP back to https: always with a redirecting route, and with
// Istio's httpsRedirect unless Envoy believes the ALB's X-Forwarded-Proto.
func (t Target) RedirectsTerminated(trusted bool) bool {
	for _, s := range t.Servers {
		if len(s.RedirectRoutes) > 0 || (s.HTTPSRedirect && !trusted) {
			return true
		}
	}
	return false
}

// Redirects reports whether the target's servers redirect some plain-HTTP requests to https.
func (t Target) Redirects() bool {
	for _, s := range t.Servers {
		if len(s.RedirectRoutes) > 0 || s.HTTPSRedirect {
			return true
		}
	}
	return false
}

// ReEncryptable reports whether the ALB can open TLS to this server itself: an HTTPS server
// whose TLS Envoy terminates with its own certificate and no client certificate (SIMPLE; the ALB
// presents none and does not check the target's certificate).
func (s Server) ReEncryptable() bool { return s.Protocol == "HTTPS" && s.TLSMode == TLSSimple }

// MatchesSNI reports whether Envoy takes a TLS connection to this server only when its SNI
// names one of the server's hosts: Istio matches SNI on the hosts unless they include "*"
// (a Gateway API listener without hostname has "*").
func (s Server) MatchesSNI() bool {
	for _, h := range s.Hosts {
		if HostName(h) == "*" {
			return false
		}
	}
	return true
}

// DescribeRedirect says how the server redirects to https, for messages.
func (s Server) DescribeRedirect() string {
	switch {
	case len(s.RedirectRoutes) > 0 && s.HTTPSRedirect:
		return fmt.Sprintf("tls.httpsRedirect and %s", strings.Join(s.RedirectRoutes, ", "))
	case len(s.RedirectRoutes) > 0:
		return fmt.Sprintf("%s (RequestRedirect to scheme https)", strings.Join(s.RedirectRoutes, ", "))
	case s.HTTPSRedirect:
		return "tls.httpsRedirect"
	}
	return ""
}
