package controllers

import (
	"slices"
	"strings"

	istionet "istio.io/client-go/pkg/apis/networking/v1"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build/frontend"
)

// bindsTo reports whether the VirtualService names the Gateway in spec.gateways ("<ns>/<name>",
// or "<name>" for a Gateway in the VirtualService's namespace).
func bindsTo(vs *istionet.VirtualService, gw *istionet.Gateway) bool {
	for _, g := range vs.Spec.GetGateways() {
		ns, name, found := strings.Cut(g, "/")
		if !found {
			ns, name = vs.Namespace, g
		}
		if ns == gw.Namespace && name == gw.Name {
			return true
		}
	}
	return false
}

// routeHosts returns the hosts of the VirtualServices bound to the Gateway that one of its
// wildcard servers accepts (Istio's rules: a server host "ns/host" admits VirtualServices of
// namespace ns only, "./host" those of the Gateway's namespace, "*/host" or "host" any; "*"
// matches every host and "*.example.com" every host below example.com). Hosts of exact server
// names are the servers' own; short names and "*" are not DNS names and are skipped.
func routeHosts(gw *istionet.Gateway, vss []*istionet.VirtualService) []frontend.Route {
	var out []frontend.Route
	for _, vs := range vss {
		if !vs.DeletionTimestamp.IsZero() || !bindsTo(vs, gw) {
			continue
		}
		r := frontend.Route{Source: "VirtualService " + vs.Namespace + "/" + vs.Name}
		for _, h := range vs.Spec.GetHosts() {
			h = strings.ToLower(h)
			if h == "*" || !strings.Contains(h, ".") || slices.Contains(r.Hosts, h) {
				continue
			}
			if acceptsFromWildcard(gw, vs.Namespace, h) {
				r.Hosts = append(r.Hosts, h)
			}
		}
		if len(r.Hosts) > 0 {
			slices.Sort(r.Hosts)
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b frontend.Route) int { return strings.Compare(a.Source, b.Source) })
	return out
}

func acceptsFromWildcard(gw *istionet.Gateway, vsNamespace, host string) bool {
	for _, s := range gw.Spec.GetServers() {
		for _, sh := range s.GetHosts() {
			ns, pattern, found := strings.Cut(sh, "/")
			if !found {
				ns, pattern = "*", sh
			}
			if ns == "." {
				ns = gw.Namespace
			}
			if ns != "*" && ns != vsNamespace {
				continue
			}
			pattern = strings.ToLower(pattern)
			switch {
			case pattern == "*":
				return true
			case strings.HasPrefix(pattern, "*.") && strings.HasSuffix(host, pattern[1:]) && host != pattern:
				return true
			}
		}
	}
	return false
}
