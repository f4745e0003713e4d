package controllers

import (
	"strings"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/event"
)

func podEndpoint(ip string, ready, terminating *bool) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ready, Terminating: terminating}}
}

func slice(family discoveryv1.AddressType, endpoints ...discoveryv1.Endpoint) discoveryv1.EndpointSlice {
	return discoveryv1.EndpointSlice{AddressType: family, Endpoints: endpoints}
}

func TestReadyEndpoints(t *testing.T) {
	yes, no := ptr.To(true), ptr.To(false)
	cases := []struct {
		sentence string
		slices   []discoveryv1.EndpointSlice
		want     string
	}{
		{"ready endpoints of every slice are the targets, sorted",
			[]discoveryv1.EndpointSlice{slice(discoveryv1.AddressTypeIPv4, podEndpoint("10.0.1.9", yes, nil)), slice(discoveryv1.AddressTypeIPv4, podEndpoint("10.0.0.7", yes, no))},
			"10.0.0.7,10.0.1.9"},
		{"a pod failing its readiness probe is left out",
			[]discoveryv1.EndpointSlice{slice(discoveryv1.AddressTypeIPv4, podEndpoint("10.0.0.7", yes, nil), podEndpoint("10.0.0.8", no, nil))},
			"10.0.0.7"},
		{"a terminating pod is left out, also when it still serves (publishNotReadyAddresses)",
			[]discoveryv1.EndpointSlice{slice(discoveryv1.AddressTypeIPv4, podEndpoint("10.0.0.7", yes, yes), podEndpoint("10.0.0.8", no, yes))},
			""},
		{"an unknown readiness means ready, as the API says",
			[]discoveryv1.EndpointSlice{slice(discoveryv1.AddressTypeIPv4, podEndpoint("10.0.0.7", nil, nil))},
			"10.0.0.7"},
		{"an endpoint in two slices (a slice being split) is one target",
			[]discoveryv1.EndpointSlice{slice(discoveryv1.AddressTypeIPv4, podEndpoint("10.0.0.7", yes, nil)), slice(discoveryv1.AddressTypeIPv4, podEndpoint("10.0.0.7", yes, nil))},
			"10.0.0.7"},
		{"IPv6 and FQDN slices are not ip targets of an IPv4 target group",
			[]discoveryv1.EndpointSlice{slice(discoveryv1.AddressTypeIPv6, podEndpoint("fd00::7", yes, nil)), slice(discoveryv1.AddressTypeFQDN, podEndpoint("a.example.com", yes, nil))},
			""},
	}
	for _, c := range cases {
		t.Run(c.sentence, func(t *testing.T) {
			if got := strings.Join(ReadyEndpoints(c.slices), ","); got != c.want {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestOnlyEndpointChangesThatMoveTargetsReconcile(t *testing.T) {
	yes, no := ptr.To(true), ptr.To(false)
	base := slice(discoveryv1.AddressTypeIPv4, podEndpoint("10.0.0.7", yes, nil))
	base.Labels = map[string]string{discoveryv1.LabelServiceName: "istio-ingressgateway"}
	cases := []struct {
		sentence string
		change   func(*discoveryv1.EndpointSlice)
		want     bool
	}{
		{"a pod turning unready reconciles", func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Conditions.Ready = no }, true},
		{"a new ready pod reconciles", func(s *discoveryv1.EndpointSlice) {
			s.Endpoints = append(s.Endpoints, podEndpoint("10.0.0.8", yes, nil))
		}, true},
		{"a pod starting that is not ready yet does not", func(s *discoveryv1.EndpointSlice) {
			s.Endpoints = append(s.Endpoints, podEndpoint("10.0.0.8", no, nil))
		}, false},
		{"a change of the node name or zone hint does not", func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].NodeName = ptr.To("node-a") }, false},
	}
	for _, c := range cases {
		t.Run(c.sentence, func(t *testing.T) {
			n := base.DeepCopy()
			c.change(n)
			if got := endpointsChanged.Update(event.UpdateEvent{ObjectOld: base.DeepCopy(), ObjectNew: n}); got != c.want {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}
