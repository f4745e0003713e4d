package controllers

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build/frontend"
)

func TestEachListenerKnowsTheKindsOfTheRoutesAttachedToIt(t *testing.T) {
	gw := &gwapiv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-ingress", Name: "gateway"}, Spec: gwapiv1.GatewaySpec{
		Listeners: []gwapiv1.Listener{
			{Name: "grpc", Port: 80, Protocol: gwapiv1.HTTPProtocolType},
			{Name: "web", Port: 8080, Protocol: gwapiv1.HTTPProtocolType},
			{Name: "http-only", Port: 8081, Protocol: gwapiv1.HTTPProtocolType,
				AllowedRoutes: &gwapiv1.AllowedRoutes{Kinds: []gwapiv1.RouteGroupKind{{Kind: "HTTPRoute"}}}},
		},
	}}
	to := func(section string) []gwapiv1.ParentReference {
		return []gwapiv1.ParentReference{{Name: "gateway", SectionName: ptr.To(gwapiv1.SectionName(section))}}
	}
	grpc := grpcRoutes([]gwapiv1.GRPCRoute{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-ingress", Name: "greeter"}, Spec: gwapiv1.GRPCRouteSpec{
			CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: to("grpc")}, Hostnames: []gwapiv1.Hostname{"grpc.example.com"}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-ingress", Name: "mixed"}, Spec: gwapiv1.GRPCRouteSpec{
			CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: to("web")}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-ingress", Name: "refused"}, Spec: gwapiv1.GRPCRouteSpec{
			CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: to("http-only")}, Hostnames: []gwapiv1.Hostname{"refused.example.com"}}},
	})
	http := httpRoutes([]gwapiv1.HTTPRoute{{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-ingress", Name: "web"}, Spec: gwapiv1.HTTPRouteSpec{
		CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: to("web")}, Hostnames: []gwapiv1.Hostname{"web.example.com"}}}})
	routes, kinds := attach(gw, append(http, grpc...), nil)
	if got := kinds["grpc"]; !slices.Equal(got, []string{frontend.KindGRPCRoute}) {
		t.Errorf("grpc listener kinds %v", got)
	}
	if got := kinds["web"]; !slices.Equal(got, []string{frontend.KindGRPCRoute, frontend.KindHTTPRoute}) {
		t.Errorf("web listener kinds %v", got)
	}
	if got := kinds["http-only"]; got != nil {
		t.Errorf("a listener admitting only HTTPRoutes got %v", got)
	}
	if got := allHosts(routes); !slices.Equal(got, []string{"grpc.example.com", "web.example.com"}) {
		t.Errorf("hosts %v: a GRPCRoute's hostnames are the gateway's like an HTTPRoute's", got)
	}
	if routes[0].Source != "GRPCRoute istio-ingress/greeter" {
		t.Errorf("sources %v", routes)
	}
}
