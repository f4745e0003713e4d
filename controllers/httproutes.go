package controllers

import (
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build/frontend"
)

// parentIs reports whether a route's parentRef names the Gateway.
func parentIs(ref gwapiv1.ParentReference, routeNamespace string, gw *gwapiv1.Gateway) bool {
	if ref.Group != nil && *ref.Group != gwapiv1.GroupName {
		return false
	}
	if ref.Kind != nil && *ref.Kind != "Gateway" {
		return false
	}
	ns := routeNamespace
	if ref.Namespace != nil {
		ns = string(*ref.Namespace)
	}
	return ns == gw.Namespace && string(ref.Name) == gw.Name
}

// allows reports whether a listener admits HTTPRoutes of the namespace (allowedRoutes: Same by
// default, All, or a label Selector) and of kind HTTPRoute.
func allows(l gwapiv1.Listener, gwNamespace, routeNamespace string, nsLabels map[string]string) bool {
	return allowsKind(l, frontend.KindHTTPRoute, gwNamespace, routeNamespace, nsLabels)
}

// allowsKind reports whether a listener admits routes of the kind (HTTPRoute, GRPCRoute) of the
// namespace; an HTTP or HTTPS listener without allowedRoutes.kinds admits both kinds.
func allowsKind(l gwapiv1.Listener, kind, gwNamespace, routeNamespace string, nsLabels map[string]string) bool {
	if ar := l.AllowedRoutes; ar != nil && len(ar.Kinds) > 0 {
		if !slices.ContainsFunc(ar.Kinds, func(k gwapiv1.RouteGroupKind) bool {
			return string(k.Kind) == kind && (k.Group == nil || *k.Group == gwapiv1.GroupName)
		}) {
			return false
		}
	}
	from := gwapiv1.NamespacesFromSame
	var selector *metav1.LabelSelector
	if ar := l.AllowedRoutes; ar != nil && ar.Namespaces != nil {
		if ar.Namespaces.From != nil {
			from = *ar.Namespaces.From
		}
		selector = ar.Namespaces.Selector
	}
	switch from {
	case gwapiv1.NamespacesFromAll:
		return true
	case gwapiv1.NamespacesFromSelector:
		s, err := metav1.LabelSelectorAsSelector(selector)
		return err == nil && selector != nil && s.Matches(labels.Set(nsLabels))
	default:
		return routeNamespace == gwNamespace
	}
}

// hostMatches reports whether a Gateway API hostname pattern (a leading "*." matches one or more
// labels) admits host.
func hostMatches(pattern, host string) bool {
	if pattern == host {
		return true
	}
	return strings.HasPrefix(pattern, "*.") && strings.HasSuffix(host, pattern[1:]) && len(host) > len(pattern)-1
}

// intersect returns the names a route's hostname gives on a listener: the route's hostname when
// the listener admits it, the listener's when the route's wildcard admits that.
func intersect(listener *gwapiv1.Hostname, route gwapiv1.Hostname) (string, bool) {
	r := strings.ToLower(string(route))
	if listener == nil || *listener == "" {
		return r, true
	}
	l := strings.ToLower(string(*listener))
	switch {
	case hostMatches(l, r):
		return r, true
	case hostMatches(r, l):
		return l, true
	}
	return "", false
}

// attachedHostnames returns the hostnames the HTTPRoutes attached to the Gateway add: for every
// parentRef naming it (narrowed by sectionName and port), on every HTTP or HTTPS listener that
// admits the route, the intersection of the route's hostnames with the listener's. nsLabels are
// the labels of each namespace (for allowedRoutes selectors).
func attachedHostnames(gw *gwapiv1.Gateway, routes []gwapiv1.HTTPRoute, nsLabels map[string]map[string]string) []frontend.Route {
	out, _ := attach(gw, httpRoutes(routes), nsLabels)
	return out
}

// attachedRoute is a route of either kind, as far as attaching to a Gateway goes.
type attachedRoute struct {
	kind, namespace, name string
	deleting              bool
	parentRefs            []gwapiv1.ParentReference
	hostnames             []gwapiv1.Hostname
}

func httpRoutes(routes []gwapiv1.HTTPRoute) []attachedRoute {
	out := make([]attachedRoute, 0, len(routes))
	for _, rt := range routes {
		out = append(out, attachedRoute{kind: frontend.KindHTTPRoute, namespace: rt.Namespace, name: rt.Name,
			deleting: !rt.DeletionTimestamp.IsZero(), parentRefs: rt.Spec.ParentRefs, hostnames: rt.Spec.Hostnames})
	}
	return out
}

// attach returns the hostnames the routes attached to the Gateway add (see attachedHostnames),
// and for each listener the kinds of the routes attached to it, sorted and distinct.
func attach(gw *gwapiv1.Gateway, routes []attachedRoute, nsLabels map[string]map[string]string) ([]frontend.Route, map[gwapiv1.SectionName][]string) {
	var out []frontend.Route
	kinds := map[gwapiv1.SectionName][]string{}
	for _, rt := range routes {
		if rt.deleting {
			continue
		}
		r := frontend.Route{Source: rt.kind + " " + rt.namespace + "/" + rt.name}
		for _, ref := range rt.parentRefs {
			if !parentIs(ref, rt.namespace, gw) {
				continue
			}
			for _, l := range gw.Spec.Listeners {
				if (ref.SectionName != nil && *ref.SectionName != l.Name) || (ref.Port != nil && *ref.Port != l.Port) {
					continue
				}
				if l.Protocol != gwapiv1.HTTPProtocolType && l.Protocol != gwapiv1.HTTPSProtocolType {
					continue
				}
				if !allowsKind(l, rt.kind, gw.Namespace, rt.namespace, nsLabels[rt.namespace]) {
					continue
				}
				if !slices.Contains(kinds[l.Name], rt.kind) {
					kinds[l.Name] = append(kinds[l.Name], rt.kind)
					slices.Sort(kinds[l.Name])
				}
				for _, h := range rt.hostnames {
					if name, ok := intersect(l.Hostname, h); ok && !slices.Contains(r.Hosts, name) {
						r.Hosts = append(r.Hosts, name)
					}
				}
			}
		}
		if len(r.Hosts) > 0 {
			slices.Sort(r.Hosts)
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b frontend.Route) int { return strings.Compare(a.Source, b.Source) })
	return out, kinds
}
