package controllers

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

func TestAttachedHostnamesFollowTheGatewayAPIRules(t *testing.T) {
	all, selector := gwapiv1.NamespacesFromAll, gwapiv1.NamespacesFromSelector
	gw := &gwapiv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-ingress", Name: "gateway"}, Spec: gwapiv1.GatewaySpec{
		Listeners: []gwapiv1.Listener{
			{Name: "http", Port: 80, Protocol: gwapiv1.HTTPProtocolType, Hostname: ptr.To(gwapiv1.Hostname("*.example.com")),
				AllowedRoutes: &gwapiv1.AllowedRoutes{Namespaces: &gwapiv1.RouteNamespaces{From: &all}}},
			{Name: "team", Port: 8080, Protocol: gwapiv1.HTTPProtocolType,
				AllowedRoutes: &gwapiv1.AllowedRoutes{Namespaces: &gwapiv1.RouteNamespaces{From: &selector,
					Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"gateway-access": "yes"}}}}},
			{Name: "same", Port: 8081, Protocol: gwapiv1.HTTPProtocolType, Hostname: ptr.To(gwapiv1.Hostname("same.example.org"))},
			{Name: "tcp", Port: 9000, Protocol: gwapiv1.TCPProtocolType},
		},
	}}
	route := func(ns string, ref gwapiv1.ParentReference, hosts ...gwapiv1.Hostname) gwapiv1.HTTPRoute {
		return gwapiv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "r"}, Spec: gwapiv1.HTTPRouteSpec{
			CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: []gwapiv1.ParentReference{ref}}, Hostnames: hosts}}
	}
	toGW := gwapiv1.ParentReference{Name: "gateway", Namespace: ptr.To(gwapiv1.Namespace("istio-ingress"))}
	toHTTP := toGW
	toHTTP.SectionName = ptr.To(gwapiv1.SectionName("http"))
	got := allHosts(attachedHostnames(gw, []gwapiv1.HTTPRoute{
		route("default", toGW, "httpbin.example.com"),                                      // http (All) admits it; team's selector does not match default
		route("default", toGW, "other.example.net"),                                        // outside *.example.com; team does not admit default
		route("teams", toHTTP, "*.example.com", "a.b.example.com"),                         // wildcard equal to the listener's, and a deeper name
		route("teams", toGW, "team.example.io"),                                            // only the team listener (selector) admits it
		route("default", gwapiv1.ParentReference{Name: "gateway"}, "wrong-ns.example.com"), // parent defaults to default/gateway
		route("istio-ingress", toGW, "same.example.org"),                                   // same namespace
	}, map[string]map[string]string{"teams": {"gateway-access": "yes"}, "default": {}}))
	want := []string{"*.example.com", "a.b.example.com", "httpbin.example.com", "same.example.org", "team.example.io"}
	if !slices.Equal(got, want) {
		t.Fatalf("attachedHostnames = %v, want %v", got, want)
	}
}

func TestIntersectNarrowsToTheMoreSpecificName(t *testing.T) {
	l := gwapiv1.Hostname("*.example.com")
	for _, c := range []struct {
		route, want string
		ok          bool
	}{
		{"a.example.com", "a.example.com", true},
		{"*.example.com", "*.example.com", true},
		{"example.com", "", false},
		{"a.example.org", "", false},
	} {
		got, ok := intersect(&l, gwapiv1.Hostname(c.route))
		if got != c.want || ok != c.ok {
			t.Errorf("intersect(*.example.com, %s) = %q,%v want %q,%v", c.route, got, ok, c.want, c.ok)
		}
	}
	exact := gwapiv1.Hostname("a.example.com")
	if got, ok := intersect(&exact, "*.example.com"); !ok || got != "a.example.com" {
		t.Errorf("a route wildcard over an exact listener gives %q,%v", got, ok)
	}
}
