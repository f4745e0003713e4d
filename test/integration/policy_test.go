package integration_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build"
	"github.com/istio-alb-operator/istio-alb-operator/aws/clients"
	"github.com/istio-alb-operator/istio-alb-operator/controllers"
	"github.com/istio-alb-operator/istio-alb-operator/test/fixtures"
)

// refused checks that the gateway got a Warning of reason mentioning each of mentions, and that
// nothing was written: no mutating AWS call since before, no resource, no finalizer, and the
// Services unchanged.
func (s *scenario) refused(name, reason string, before map[clients.Call]int, services []*corev1.Service, mentions ...string) {
	s.t.Helper()
	msg := s.event(s.appNS, name, reason)
	for _, m := range mentions {
		if !strings.Contains(msg, m) {
			s.t.Errorf("event %s: %q does not mention %q", reason, msg, m)
		}
	}
	s.t.Logf("%s: %s", reason, msg)
	if calls := s.calls.Since(before); len(mutating(calls)) != 0 {
		s.t.Fatalf("a refused gateway made mutating AWS calls: %v", clients.Format(calls))
	}
	if by := s.owned(s.gatewayKey(name)); len(by) != 0 {
		s.t.Fatalf("a refused gateway has AWS resources: %v", by)
	}
	gw := fixtures.Gateway(s.appNS, name, nil, nil, nil)
	must(s.t, s.k8s.Get(s.ctx, client.ObjectKeyFromObject(gw), gw))
	if len(gw.Finalizers) != 0 {
		s.t.Fatalf("a refused gateway got the finalizer %v", gw.Finalizers)
	}
	for _, want := range services {
		var got corev1.Service
		must(s.t, s.k8s.Get(s.ctx, client.ObjectKeyFromObject(want), &got))
		if got.ResourceVersion != want.ResourceVersion || !apiequality.Semantic.DeepEqual(got.Spec, want.Spec) {
			s.t.Fatalf("Service %s/%s changed: type %s", got.Namespace, got.Name, got.Spec.Type)
		}
	}
}

func TestAGatewayWhoseSelectorMatchesAnApplicationServiceIsRefused(t *testing.T) {
	s := newScenario(t, scenarioOptions{})
	// An application: a LoadBalancer Service in front of pods with an injected sidecar (istio-proxy
	// running as a sidecar, not a router), in a namespace of its own.
	labels := map[string]string{"app": "shop-" + s.appNS}
	one := int32(1)
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: s.appNS, Name: "shop"}, Spec: appsv1.DeploymentSpec{
		Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "shop", Image: "shop:1"}, {Name: "istio-proxy", Image: "istio/proxyv2", Args: []string{"proxy", "sidecar"}}}}},
	}}
	must(t, s.k8s.Create(s.ctx, dep))
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: s.appNS, Name: "shop"}, Spec: corev1.ServiceSpec{
		Type: corev1.ServiceTypeLoadBalancer, Selector: labels,
		Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}, {Name: "status-port", Port: 15021, TargetPort: intstr.FromInt32(15021)}},
	}}
	must(t, s.k8s.Create(s.ctx, svc))
	before := s.calls.Snapshot()
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", labels, []string{articleHost}, enabled)))
	s.refused("gw", build.ReasonNotAGatewayService, before, []*corev1.Service{svc},
		s.appNS+"/shop", "Deployment "+s.appNS+"/shop", "not Istio gateway pods")

	// A Service with no workload behind it at all is refused the same way.
	bare := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: s.appNS, Name: "bare"}, Spec: corev1.ServiceSpec{
		Type: corev1.ServiceTypeClusterIP, Selector: map[string]string{"app": "bare-" + s.appNS},
		Ports: []corev1.ServicePort{{Name: "http", Port: 80}, {Name: "status-port", Port: 15021}},
	}}
	must(t, s.k8s.Create(s.ctx, bare))
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw2", bare.Spec.Selector, []string{"other.example.com"}, enabled)))
	s.refused("gw2", build.ReasonNotAGatewayService, before, []*corev1.Service{svc, bare}, s.appNS+"/bare", "selects no Istio gateway pods")
}

// labelNamespace sets labels on one of the scenario's namespaces.
func (s *scenario) labelNamespace(name string, labels map[string]string) {
	s.t.Helper()
	var ns corev1.Namespace
	must(s.t, s.k8s.Get(s.ctx, client.ObjectKey{Name: name}, &ns))
	before := ns.DeepCopy()
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	for k, v := range labels {
		ns.Labels[k] = v
	}
	must(s.t, s.k8s.Patch(s.ctx, &ns, client.MergeFrom(before)))
}

func TestTheClusterPolicyDecidesWhichNamespacesAndSchemesAreServed(t *testing.T) {
	s := newScenario(t, scenarioOptions{noManager: true})
	s.startManagerWith(controllers.Options{SyncPeriod: 10 * time.Minute, UserErrorRetry: time.Second,
		NamespaceSelector: "alb-" + s.appNS + " in (internal,public)", InternetFacingNamespaceSelector: "alb-" + s.appNS + "=public"})
	svc := s.article("/healthz/ready")
	must(t, s.k8s.Get(s.ctx, client.ObjectKeyFromObject(svc), svc))

	// Outside the policy: refused, naming the rule.
	before := s.calls.Snapshot()
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost}, enabled)))
	s.refused("gw", build.ReasonNamespaceNotAllowed, before, []*corev1.Service{svc}, s.appNS, "--namespace-selector")

	// Allowed only internal ALBs: the default internet-facing scheme is refused.
	s.labelNamespace(s.appNS, map[string]string{"alb-" + s.appNS: "internal"})
	s.refused("gw", build.ReasonSchemeNotAllowed, before, []*corev1.Service{svc}, "istio-alb.io/scheme", "internet-facing", "--internet-facing-namespace-selector")

	// Allowed internet-facing ALBs: the namespace's new label alone builds it.
	s.labelNamespace(s.appNS, map[string]string{"alb-" + s.appNS: "public"})
	s.waitDNS("gw")
	lb, _, _ := s.loadBalancer(s.gatewayKey("gw"))
	if string(lb.Scheme) != "internet-facing" {
		t.Fatalf("scheme %s", lb.Scheme)
	}
}

func TestAHostOutsideTheDomainFilterGetsNoRecordButTheALBServesIt(t *testing.T) {
	s := newScenario(t, scenarioOptions{noManager: true})
	s.startManagerWith(controllers.Options{SyncPeriod: 10 * time.Minute, DomainFilter: "shop.example.com"})
	s.article("/healthz/ready")
	inside := "api.shop.example.com"
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost, inside}, enabled)))
	s.waitDNS("gw")
	msg := s.event(s.appNS, "gw", build.ReasonHostOutsideDomainFilter)
	if !strings.Contains(msg, articleHost) || !strings.Contains(msg, "--domain-filter") || strings.Contains(msg, inside) {
		t.Fatalf("event %q: want the host outside (%s) and the flag named, not the one inside", msg, articleHost)
	}
	recs := s.waitRecords(s.env.HostedZoneID, func(recs map[string]r53types.ResourceRecordSet) error {
		if _, ok := recs[inside+" A"]; !ok {
			return fmt.Errorf("no record for %s: %v", inside, names(recs))
		}
		return nil
	})
	for _, key := range []string{articleHost + " A", "a-" + articleHost + " TXT"} {
		if _, ok := recs[key]; ok {
			t.Fatalf("%s written although %s is outside the domain filter", key, articleHost)
		}
	}
}
