package controllers

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestGatewayPodTemplatesAreToldFromApplicationPods(t *testing.T) {
	proxy := func(args ...string) corev1.Container {
		return corev1.Container{Name: "istio-proxy", Image: "auto", Args: args}
	}
	app := corev1.Container{Name: "shop", Image: "shop:1"}
	cases := []struct {
		sentence string
		labels   map[string]string
		ann      map[string]string
		c        []corev1.Container
		want     bool
	}{
		{"istioctl's ingress gateway runs the proxy as a router", nil, nil, []corev1.Container{proxy("proxy", "router", "--domain", "x")}, true},
		{"the gateway Helm chart asks for the gateway injection template", nil, map[string]string{"inject.istio.io/templates": "gateway"}, []corev1.Container{proxy()}, true},
		{"istiod's deployment for a Gateway API Gateway carries its managed label", map[string]string{"gateway.istio.io/managed": "istio.io-gateway-controller"}, nil, []corev1.Container{proxy()}, true},
		{"an application with an injected sidecar is not a gateway", nil, nil, []corev1.Container{app, proxy("proxy", "sidecar")}, false},
		{"an application without Istio is not a gateway", map[string]string{"istio": "ingressgateway"}, nil, []corev1.Container{app}, false},
		{"gateway labels without an istio-proxy container are not enough", map[string]string{"gateway.istio.io/managed": "x"}, map[string]string{"inject.istio.io/templates": "gateway"}, []corev1.Container{app}, false},
		{"the sidecar template is not the gateway template", nil, map[string]string{"inject.istio.io/templates": "sidecar"}, []corev1.Container{app, proxy()}, false},
	}
	for _, c := range cases {
		t.Run(c.sentence, func(t *testing.T) {
			tpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: c.labels, Annotations: c.ann}, Spec: corev1.PodSpec{Containers: c.c}}
			if got := IsGatewayPodTemplate(tpl); got != c.want {
				t.Fatalf("IsGatewayPodTemplate = %v, want %v", got, c.want)
			}
		})
	}
}
