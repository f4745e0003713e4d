package integration_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build"
	"github.com/istio-alb-operator/istio-alb-operator/aws/build/frontend"
	"github.com/istio-alb-operator/istio-alb-operator/controllers"
	"github.com/istio-alb-operator/istio-alb-operator/test/fixtures"
	"github.com/istio-alb-operator/istio-alb-operator/test/rig"
)

func apiKey(ns, name string) string { return "gateway-api/" + ns + "/" + name }

// waitAPIGateway waits until the Gateway API Gateway has the operator's DNS-name annotation and
// returns it as read then.
func (s *scenario) waitAPIGateway(ns, name string) *gwapiv1.Gateway {
	s.t.Helper()
	gw := &gwapiv1.Gateway{}
	must(s.t, rig.Eventually(60*time.Second, 100*time.Millisecond, func() error {
		if err := s.k8s.Get(s.ctx, client.ObjectKey{Namespace: ns, Name: name}, gw); err != nil {
			return err
		}
		if gw.Annotations["istio-alb.io/load-balancer-dns"] == "" {
			return fmt.Errorf("no load-balancer-dns annotation yet; events: %s", s.eventSummary(name))
		}
		return nil
	}))
	return gw
}

func (s *scenario) updateAPIGateway(ns, name string, change func(*gwapiv1.Gateway)) {
	s.t.Helper()
	var gw gwapiv1.Gateway
	must(s.t, s.k8s.Get(s.ctx, client.ObjectKey{Namespace: ns, Name: name}, &gw))
	change(&gw)
	must(s.t, s.k8s.Update(s.ctx, &gw))
}

func TestTheSeedsGatewayAPIExampleGetsAnALBRecordsAndAStatusCondition(t *testing.T) {
	s := newScenario(t, scenarioOptions{istiod: true})
	gwNS, routeNS := s.istioNS, s.appNS
	must(t, s.k8s.Create(s.ctx, fixtures.GatewayAPIGateway(gwNS, "gateway", enabled,
		fixtures.HTTPListener("http", 80, "*.example.com", gwapiv1.NamespacesFromAll),
		fixtures.HTTPListener("internal", 8080, "*.internal.example.com", gwapiv1.NamespacesFromSame))))
	must(t, s.k8s.Create(s.ctx, fixtures.HTTPRoute(routeNS, "httpbin", gwNS, "gateway", "", "httpbin.example.com")))
	gw := s.waitAPIGateway(gwNS, "gateway")

	// istiod's Service became NodePort through the annotation, and the target group's health
	// check is on its status port's nodePort.
	if gw.Annotations[frontend.IstioServiceTypeAnnotation] != "NodePort" {
		t.Fatalf("annotation %s = %q, want NodePort", frontend.IstioServiceTypeAnnotation, gw.Annotations[frontend.IstioServiceTypeAnnotation])
	}
	// istiod switches its Service after the operator's cutover asked it to.
	svc := corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: gwNS, Name: "gateway-istio"}}
	s.waitServiceType(&svc, corev1.ServiceTypeNodePort)
	lb, _, tg := s.loadBalancer(apiKey(gwNS, "gateway"))
	if aws.ToString(tg.HealthCheckPort) != strconv.Itoa(int(nodePort(&svc, "status-port"))) || aws.ToInt32(tg.Port) != nodePort(&svc, "http-80") ||
		aws.ToString(tg.HealthCheckPath) != "/healthz/ready" {
		t.Fatalf("target group port %d health %s:%s; service ports %+v", aws.ToInt32(tg.Port), aws.ToString(tg.HealthCheckPort), aws.ToString(tg.HealthCheckPath), svc.Spec.Ports)
	}
	if gw.Annotations["istio-alb.io/load-balancer-dns"] != aws.ToString(lb.DNSName) {
		t.Fatalf("annotation %q, ALB %s", gw.Annotations["istio-alb.io/load-balancer-dns"], aws.ToString(lb.DNSName))
	}
	// Our condition, with observedGeneration, beside istiod's.
	must(t, rig.Eventually(10*time.Second, 100*time.Millisecond, func() error {
		must(t, s.k8s.Get(s.ctx, client.ObjectKeyFromObject(gw), gw))
		c := meta.FindStatusCondition(gw.Status.Conditions, controllers.ConditionLoadBalancerReady)
		if c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != gw.Generation || !strings.Contains(c.Message, aws.ToString(lb.DNSName)) {
			return fmt.Errorf("condition %+v", c)
		}
		for _, istiods := range []string{"Accepted", "Programmed"} {
			if !meta.IsStatusConditionTrue(gw.Status.Conditions, istiods) {
				return fmt.Errorf("istiod's %s condition is gone: %+v", istiods, gw.Status.Conditions)
			}
		}
		if len(gw.Status.Addresses) != 1 || !strings.HasSuffix(gw.Status.Addresses[0].Value, ".svc.cluster.local") {
			return fmt.Errorf("istiod's status.addresses changed: %+v", gw.Status.Addresses)
		}
		return nil
	}))

	alb, zone := aws.ToString(lb.DNSName), aws.ToString(lb.CanonicalHostedZoneId)
	s.waitRecords(s.env.HostedZoneID, func(r map[string]r53types.ResourceRecordSet) error {
		return aliasTo(r, "httpbin.example.com A", alb, zone)
	})

	// A second route attached later adds its record; one from a namespace the listener does not
	// admit adds none.
	must(t, s.k8s.Create(s.ctx, fixtures.HTTPRoute(routeNS, "second", gwNS, "gateway", "", "second.example.com")))
	must(t, s.k8s.Create(s.ctx, fixtures.HTTPRoute(routeNS, "denied", gwNS, "gateway", "internal", "denied.internal.example.com")))
	recs := s.waitRecords(s.env.HostedZoneID, func(r map[string]r53types.ResourceRecordSet) error {
		return aliasTo(r, "second.example.com A", alb, zone)
	})
	if _, ok := recs["denied.internal.example.com A"]; ok {
		t.Fatal("a route from a namespace allowedRoutes does not admit got a record")
	}
}

func TestAGatewayAPIHTTPSListenerGetsItsACMCertificateAndTheRedirect(t *testing.T) {
	s := newScenario(t, scenarioOptions{istiod: true})
	https := gwapiv1.Listener{Name: "https", Port: 443, Protocol: gwapiv1.HTTPSProtocolType, Hostname: ptrHostname("secure.example.com"),
		TLS: &gwapiv1.ListenerTLSConfig{CertificateRefs: []gwapiv1.SecretObjectReference{{Name: "secure-cert"}}}}
	must(t, s.k8s.Create(s.ctx, fixtures.GatewayAPIGateway(s.istioNS, "gw", enabled,
		fixtures.HTTPListener("http", 80, "secure.example.com", gwapiv1.NamespacesFromSame), https)))
	s.waitAPIGateway(s.istioNS, "gw")
	_, ls, tg := s.loadBalancer(apiKey(s.istioNS, "gw"))
	if len(ls) != 2 {
		t.Fatalf("%d listeners, want HTTP and HTTPS", len(ls))
	}
	l := s.listener(ls, 443)
	if def, _ := s.listenerCertificates(l); def != s.env.CertificateARN || !forwards(l, tg.TargetGroupArn) {
		t.Fatalf("HTTPS listener certificate %s actions %+v", def, l.DefaultActions)
	}
	assertRedirect(t, s.listener(ls, 80))
}

func ptrHostname(h string) *gwapiv1.Hostname { v := gwapiv1.Hostname(h); return &v }

func TestTheServiceTypeAnnotationIsRemovedOnTeardownOnlyWhenTheOperatorAddedIt(t *testing.T) {
	s := newScenario(t, scenarioOptions{istiod: true})
	listener := fixtures.HTTPListener("http", 80, "", gwapiv1.NamespacesFromSame)
	must(t, s.k8s.Create(s.ctx, fixtures.GatewayAPIGateway(s.istioNS, "ours", enabled, listener)))
	userSet := map[string]string{"istio-alb.io/enabled": "true", frontend.IstioServiceTypeAnnotation: "NodePort"}
	must(t, s.k8s.Create(s.ctx, fixtures.GatewayAPIGateway(s.istioNS, "users", userSet, listener)))
	s.waitAPIGateway(s.istioNS, "ours")
	s.waitAPIGateway(s.istioNS, "users")

	for _, name := range []string{"ours", "users"} {
		s.updateAPIGateway(s.istioNS, name, func(gw *gwapiv1.Gateway) { delete(gw.Annotations, "istio-alb.io/enabled") })
	}
	must(t, rig.Eventually(waitAWS, 100*time.Millisecond, func() error {
		var ours, users gwapiv1.Gateway
		must(t, s.k8s.Get(s.ctx, client.ObjectKey{Namespace: s.istioNS, Name: "ours"}, &ours))
		must(t, s.k8s.Get(s.ctx, client.ObjectKey{Namespace: s.istioNS, Name: "users"}, &users))
		if len(ours.Finalizers)+len(users.Finalizers) != 0 {
			return fmt.Errorf("finalizers still there")
		}
		if _, has := ours.Annotations[frontend.IstioServiceTypeAnnotation]; has {
			return fmt.Errorf("the annotation the operator added is still on %s", ours.Name)
		}
		if users.Annotations[frontend.IstioServiceTypeAnnotation] != "NodePort" {
			return fmt.Errorf("the user's annotation was removed: %v", users.Annotations)
		}
		return nil
	}))
	// istiod puts its Service back to LoadBalancer.
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: s.istioNS, Name: "ours-istio"}}
	s.waitServiceType(svc, corev1.ServiceTypeLoadBalancer)
	for _, name := range []string{"ours", "users"} {
		if by := s.owned(apiKey(s.istioNS, name)); len(by) != 0 {
			t.Fatalf("resources left for %s: %v", name, by)
		}
	}
}

func TestAnIstioGatewayAndAGatewayAPIGatewayGetTwoIndependentALBs(t *testing.T) {
	s := newScenario(t, scenarioOptions{istiod: true})
	s.article("/healthz/ready")
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "istio-gw", s.selector, []string{articleHost}, enabled)))
	must(t, s.k8s.Create(s.ctx, fixtures.GatewayAPIGateway(s.appNS, "api-gw", enabled,
		fixtures.HTTPListener("http", 80, "api.example.com", gwapiv1.NamespacesFromSame))))
	s.waitDNS("istio-gw")
	s.waitAPIGateway(s.appNS, "api-gw")
	istioLB, _, istioTG := s.loadBalancer(s.gatewayKey("istio-gw"))
	apiLB, _, apiTG := s.loadBalancer(apiKey(s.appNS, "api-gw"))
	if aws.ToString(istioLB.LoadBalancerArn) == aws.ToString(apiLB.LoadBalancerArn) || aws.ToString(istioTG.TargetGroupArn) == aws.ToString(apiTG.TargetGroupArn) {
		t.Fatal("the two gateways share AWS resources")
	}
	// Deleting one leaves the other whole.
	var gw gwapiv1.Gateway
	must(t, s.k8s.Get(s.ctx, client.ObjectKey{Namespace: s.appNS, Name: "api-gw"}, &gw))
	must(t, s.k8s.Delete(s.ctx, &gw))
	must(t, rig.Eventually(waitAWS, 100*time.Millisecond, func() error {
		if by := s.owned(apiKey(s.appNS, "api-gw")); len(by) != 0 {
			return fmt.Errorf("left: %v", by)
		}
		return nil
	}))
	if lb, _, _ := s.loadBalancer(s.gatewayKey("istio-gw")); aws.ToString(lb.LoadBalancerArn) != aws.ToString(istioLB.LoadBalancerArn) {
		t.Fatal("the Istio Gateway's ALB changed")
	}
}

func TestAGatewayOfAnotherClassOrWithATCPListenerIsReported(t *testing.T) {
	s := newScenario(t, scenarioOptions{istiod: true})
	other := &gwapiv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "other-" + s.appNS}, Spec: gwapiv1.GatewayClassSpec{ControllerName: "example.com/other"}}
	must(t, s.k8s.Create(s.ctx, other))
	t.Cleanup(func() { _ = s.k8s.Delete(s.ctx, other) })
	gw := fixtures.GatewayAPIGateway(s.appNS, "foreign", enabled, fixtures.HTTPListener("http", 80, "", gwapiv1.NamespacesFromSame))
	gw.Spec.GatewayClassName = gwapiv1.ObjectName(other.Name)
	before := s.calls.Snapshot()
	must(t, s.k8s.Create(s.ctx, gw))
	msg := s.event(s.appNS, "foreign", build.ReasonInvalidGateway)
	if !strings.Contains(msg, "class "+other.Name+" is not an Istio class") {
		t.Fatalf("event %q", msg)
	}
	must(t, s.k8s.Get(s.ctx, client.ObjectKeyFromObject(gw), gw))
	if len(gw.Finalizers) != 0 || len(s.calls.Since(before)) != 0 {
		t.Fatalf("a foreign-class Gateway got a finalizer %v or AWS calls %v", gw.Finalizers, s.calls.Since(before))
	}

	tcp := gwapiv1.Listener{Name: "db", Port: 5432, Protocol: gwapiv1.TCPProtocolType}
	must(t, s.k8s.Create(s.ctx, fixtures.GatewayAPIGateway(s.appNS, "mixed", enabled,
		fixtures.HTTPListener("http", 80, "", gwapiv1.NamespacesFromSame), tcp)))
	s.waitAPIGateway(s.appNS, "mixed")
	msg = s.event(s.appNS, "mixed", build.ReasonUnsupportedListener)
	if !strings.Contains(msg, "listener db (TCP, port 5432)") {
		t.Fatalf("event %q does not name the listener", msg)
	}
	_, ls, _ := s.loadBalancer(apiKey(s.appNS, "mixed"))
	if slices.ContainsFunc(ls, func(l elbv2types.Listener) bool { return aws.ToInt32(l.Port) == 5432 }) {
		t.Fatal("the TCP listener was put on the ALB")
	}
}
