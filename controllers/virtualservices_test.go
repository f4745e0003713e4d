package controllers

import (
	"slices"
	"testing"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	istionet "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build/frontend"
)

func TestRouteHostsFollowIstioBindingRules(t *testing.T) {
	gw := &istionet.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "gw-ns", Name: "gw"}, Spec: networkingv1alpha3.Gateway{
		Servers: []*networkingv1alpha3.Server{
			{Hosts: []string{"*.example.com", "exact.example.org"}},
			{Hosts: []string{"team/*.team.example.net", "./*.local.example.net"}},
		},
	}}
	vs := func(ns string, gateways []string, hosts ...string) *istionet.VirtualService {
		return &istionet.VirtualService{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "vs"},
			Spec: networkingv1alpha3.VirtualService{Gateways: gateways, Hosts: hosts}}
	}
	got := allHosts(routeHosts(gw, []*istionet.VirtualService{
		vs("apps", []string{"gw-ns/gw"}, "app.example.com", "a.b.example.com", "other.example.io", "svc", "*"),
		vs("gw-ns", []string{"gw"}, "same-ns.example.com", "x.local.example.net"),
		vs("apps", []string{"gw"}, "not-bound.example.com"),                           // "gw" means apps/gw
		vs("apps", []string{"gw-ns/gw"}, "y.team.example.net", "y.local.example.net"), // wrong namespaces
		vs("team", []string{"gw-ns/gw"}, "z.team.example.net"),
		vs("apps", []string{"gw-ns/gw"}, "exact.example.org"), // an exact server host is the server's own
	}))
	want := []string{"a.b.example.com", "app.example.com", "same-ns.example.com", "x.local.example.net", "z.team.example.net"}
	if !slices.Equal(got, want) {
		t.Fatalf("routeHosts = %v, want %v", got, want)
	}
}

// allHosts flattens routes into their distinct hosts, sorted.
func allHosts(routes []frontend.Route) []string {
	var out []string
	for _, r := range routes {
		out = append(out, r.Hosts...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
