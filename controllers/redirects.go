package controllers

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build/frontend"
)

// markRedirects records, on the gateway's plain-HTTP listeners, the HTTPRoutes that redirect
// requests to scheme https. Gateway API has no httpsRedirect: the HTTP-to-HTTPS redirect is an
// HTTPRoute RequestRedirect filter, which Envoy answers whatever X-Forwarded-Proto says.
func (r *GatewayAPIReconciler) markRedirects(ctx context.Context, gw *gwapiv1.Gateway, fe *frontend.Frontend) error {
	var routes gwapiv1.HTTPRouteList
	if err := r.Client.List(ctx, &routes); err != nil {
		return fmt.Errorf("listing httproutes: %w", err)
	}
	nsLabels := map[string]map[string]string{}
	if slices.ContainsFunc(gw.Spec.Listeners, func(l gwapiv1.Listener) bool {
		return l.AllowedRoutes != nil && l.AllowedRoutes.Namespaces != nil && l.AllowedRoutes.Namespaces.Selector != nil
	}) {
		var nss corev1.NamespaceList
		if err := r.Client.List(ctx, &nss); err != nil {
			return fmt.Errorf("listing namespaces: %w", err)
		}
		for _, ns := range nss.Items {
			nsLabels[ns.Name] = ns.Labels
		}
	}
	redirects := httpsRedirectRoutes(gw, routes.Items, nsLabels)
	for i := range fe.Servers {
		fe.Servers[i].RedirectRoutes = redirects[fe.Servers[i].Name]
	}
	return nil
}

// httpsRedirectRoutes returns, by listener name, the HTTPRoutes attached to the Gateway's HTTP
// listeners (parentRef, sectionName and port, allowedRoutes, hostnames intersecting) with a rule
// whose RequestRedirect filter sets scheme https.
func httpsRedirectRoutes(gw *gwapiv1.Gateway, routes []gwapiv1.HTTPRoute, nsLabels map[string]map[string]string) map[string][]string {
	out := map[string][]string{}
	for i := range routes {
		rt := &routes[i]
		if !rt.DeletionTimestamp.IsZero() || !redirectsToHTTPS(rt) {
			continue
		}
		source := "HTTPRoute " + rt.Namespace + "/" + rt.Name
		for _, ref := range rt.Spec.ParentRefs {
			if !parentIs(ref, rt.Namespace, gw) {
				continue
			}
			for _, l := range gw.Spec.Listeners {
				if (ref.SectionName != nil && *ref.SectionName != l.Name) || (ref.Port != nil && *ref.Port != l.Port) {
					continue
				}
				if l.Protocol != gwapiv1.HTTPProtocolType || !allows(l, gw.Namespace, rt.Namespace, nsLabels[rt.Namespace]) {
					continue
				}
				attached := len(rt.Spec.Hostnames) == 0
				for _, h := range rt.Spec.Hostnames {
					if _, ok := intersect(l.Hostname, h); ok {
						attached = true
					}
				}
				name := string(l.Name)
				if attached && !slices.Contains(out[name], source) {
					out[name] = append(out[name], source)
				}
			}
		}
	}
	for _, sources := range out {
		slices.Sort(sources)
	}
	return out
}

// redirectsToHTTPS reports whether a rule of the route redirects to scheme https.
func redirectsToHTTPS(rt *gwapiv1.HTTPRoute) bool {
	for _, rule := range rt.Spec.Rules {
		for _, f := range rule.Filters {
			if f.Type == gwapiv1.HTTPRouteFilterRequestRedirect && f.RequestRedirect != nil &&
				f.RequestRedirect.Scheme != nil && *f.RequestRedirect.Scheme == "https" {
				return true
			}
		}
	}
	return false
}
