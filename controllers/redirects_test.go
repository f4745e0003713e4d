package controllers

import (
	"reflect"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

func TestHTTPSRedirectRoutesAreTheRedirectingRoutesOfEachHTTPListener(t *testing.T) {
	gw := &gwapiv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "web", Name: "gateway"}, Spec: gwapiv1.GatewaySpec{
		Listeners: []gwapiv1.Listener{
			{Name: "http", Port: 80, Protocol: gwapiv1.HTTPProtocolType},
			{Name: "shop", Port: 8080, Protocol: gwapiv1.HTTPProtocolType, Hostname: ptr.To(gwapiv1.Hostname("shop.example.com"))},
			{Name: "https", Port: 443, Protocol: gwapiv1.HTTPSProtocolType},
		},
	}}
	redirect := func(scheme string) gwapiv1.HTTPRouteRule {
		return gwapiv1.HTTPRouteRule{Filters: []gwapiv1.HTTPRouteFilter{{Type: gwapiv1.HTTPRouteFilterRequestRedirect,
			RequestRedirect: &gwapiv1.HTTPRequestRedirectFilter{Scheme: ptr.To(scheme), StatusCode: ptr.To(301)}}}}
	}
	route := func(name, section string, rule gwapiv1.HTTPRouteRule, hosts ...gwapiv1.Hostname) gwapiv1.HTTPRoute {
		ref := gwapiv1.ParentReference{Name: "gateway"}
		if section != "" {
			ref.SectionName = ptr.To(gwapiv1.SectionName(section))
		}
		return gwapiv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "web", Name: name}, Spec: gwapiv1.HTTPRouteSpec{
			CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: []gwapiv1.ParentReference{ref}}, Hostnames: hosts,
			Rules: []gwapiv1.HTTPRouteRule{{}, rule}}}
	}
	got := httpsRedirectRoutes(gw, []gwapiv1.HTTPRoute{
		route("to-https", "http", redirect("https")),                   // the usual redirect route
		route("everywhere", "", redirect("https"), "shop.example.com"), // both HTTP listeners admit it, not the HTTPS one
		route("elsewhere", "", redirect("https"), "blog.example.org"),  // http (no hostname) admits it, shop does not
		route("to-http", "http", redirect("http")),                     // a redirect, not to https
		route("app", "", gwapiv1.HTTPRouteRule{}),                      // no redirect
		route("on-https", "https", redirect("https")),                  // not a plain-HTTP listener
		route("other-gateway-section", "nope", redirect("https")),      // no such listener
	}, nil)
	want := map[string][]string{
		"http": {"HTTPRoute web/elsewhere", "HTTPRoute web/everywhere", "HTTPRoute web/to-https"},
		"shop": {"HTTPRoute web/everywhere"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("httpsRedirectRoutes = %v, want %v", got, want)
	}
}

func TestNumTrustedProxiesIsReadFromTheProxyConfigAnnotation(t *testing.T) {
	cases := []struct {
		sentence    string
		annotations map[string]string
		want        uint32
	}{
		{"no annotation trusts no proxy", nil, 0},
		{"YAML, as Istio's docs write it", map[string]string{"proxy.istio.io/config": "gatewayTopology:\n  numTrustedProxies: 1\n"}, 1},
		{"JSON", map[string]string{"proxy.istio.io/config": `{"gatewayTopology" : { "numTrustedProxies": 2 } }`}, 2},
		{"other ProxyConfig fields only", map[string]string{"proxy.istio.io/config": "holdApplicationUntilProxyStarts: true"}, 0},
		{"unknown fields beside it are ignored", map[string]string{"proxy.istio.io/config": "gatewayTopology: {numTrustedProxies: 1}\nfutureField: x"}, 1},
		{"a value that is no ProxyConfig counts as none", map[string]string{"proxy.istio.io/config": "gatewayTopology: [1, 2"}, 0},
	}
	for _, c := range cases {
		t.Run(c.sentence, func(t *testing.T) {
			if got := NumTrustedProxies(c.annotations); got != c.want {
				t.Fatalf("NumTrustedProxies = %d, want %d", got, c.want)
			}
		})
	}
}
