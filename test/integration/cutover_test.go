package integration_test

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/istio-alb-operator/istio-alb-operator/controllers"
	"github.com/istio-alb-operator/istio-alb-operator/test/fixtures"
	"github.com/istio-alb-operator/istio-alb-operator/test/istiod"
	"github.com/istio-alb-operator/istio-alb-operator/test/rig"
)

// holdCutover installs a ValidatingAdmissionPolicy that refuses to turn a LoadBalancer Service of
// the namespace into NodePort, and returns the function that lifts it. While it holds, the
// operator's cutover fails, which tells the test the operator has decided to switch: what AWS
// holds at that moment is what the operator had built before switching.
func (s *scenario) holdCutover(namespace string) func() {
	s.t.Helper()
	name := "hold-cutover-" + namespace
	policy := &admissionv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionv1.Fail),
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionv1.RuleWithOperations{
					Operations: []admissionv1.OperationType{admissionv1.Update},
					Rule:       admissionv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"services"}},
				},
			}}},
			Validations: []admissionv1.Validation{{
				Expression: "!(oldObject.spec.type == 'LoadBalancer' && object.spec.type == 'NodePort')",
				Message:    "cutover held by the test",
			}},
		},
	}
	binding := &admissionv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        name,
			ValidationActions: []admissionv1.ValidationAction{admissionv1.Deny},
			MatchResources: &admissionv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{"kubernetes.io/metadata.name": namespace}}},
		},
	}
	must(s.t, s.k8s.Create(s.ctx, policy))
	must(s.t, s.k8s.Create(s.ctx, binding))
	// The policy is enforced once the API server has loaded it: probe with a Service of our own.
	probe := fixtures.IngressGatewayService(namespace, map[string]string{"probe": "hold"})
	probe.Name = "hold-probe"
	must(s.t, s.k8s.Create(s.ctx, probe))
	must(s.t, rig.Eventually(30*time.Second, 200*time.Millisecond, func() error {
		must(s.t, s.k8s.Get(s.ctx, client.ObjectKeyFromObject(probe), probe))
		if probe.Spec.Type != corev1.ServiceTypeLoadBalancer { // an earlier try got through: undo it
			probe.Spec.Type = corev1.ServiceTypeLoadBalancer
			if err := s.k8s.Update(s.ctx, probe); err != nil {
				return err
			}
			return fmt.Errorf("the cutover hold is not enforced yet")
		}
		p := probe.DeepCopy()
		p.Spec.Type = corev1.ServiceTypeNodePort
		if err := s.k8s.Update(s.ctx, p); err == nil {
			return fmt.Errorf("the cutover hold is not enforced yet")
		} else if !strings.Contains(err.Error(), "cutover held") {
			return err
		}
		return nil
	}))
	must(s.t, s.k8s.Delete(s.ctx, probe))
	lifted := false
	lift := func() {
		if lifted {
			return
		}
		lifted = true
		must(s.t, client.IgnoreNotFound(s.k8s.Delete(s.ctx, binding)))
		must(s.t, client.IgnoreNotFound(s.k8s.Delete(s.ctx, policy)))
	}
	s.t.Cleanup(lift)
	return lift
}

func TestTheServiceIsCutOverOnlyOnceTheALBItsTargetsAndItsAliasExist(t *testing.T) {
	s := newScenario(t, scenarioOptions{})
	svc := s.article("/healthz/ready")
	lift := s.holdCutover(s.istioNS)
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost}, enabled)))

	// The operator tries to switch the Service (refused by the hold): at that moment AWS must
	// already hold the whole stack.
	msg := s.event(s.appNS, "gw", controllers.ReasonServiceChangeFailed)
	if !strings.Contains(msg, "cutover held by the test") {
		t.Fatalf("ServiceChangeFailed event %q is not the held cutover", msg)
	}
	lb, listeners, tg := s.loadBalancer(s.gatewayKey("gw"))
	if len(listeners) != 2 {
		t.Fatalf("at the cutover the ALB has %d listeners, want HTTP and HTTPS", len(listeners))
	}
	assertRedirect(t, s.listener(listeners, 80))
	if !forwards(s.listener(listeners, 443), tg.TargetGroupArn) {
		t.Fatal("at the cutover HTTPS does not forward to the target group")
	}
	must(t, s.k8s.Get(s.ctx, client.ObjectKeyFromObject(svc), svc))
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		t.Fatalf("the Service is %s while the cutover is held", svc.Spec.Type)
	}
	port := nodePort(svc, "http2")
	want := []string{fmt.Sprintf("%s:%d", s.env.Instances[0].ID, port), fmt.Sprintf("%s:%d", s.env.Instances[1].ID, port)}
	sort.Strings(want)
	if got := s.targets(tg.TargetGroupArn); !slices.Equal(got, want) {
		t.Fatalf("at the cutover the targets are %v, want %v (the LoadBalancer Service's nodePorts)", got, want)
	}
	if err := aliasTo(s.records(s.env.HostedZoneID), articleHost+" A", aws.ToString(lb.DNSName), aws.ToString(lb.CanonicalHostedZoneId)); err != nil {
		t.Fatalf("at the cutover: %v", err)
	}
	lift()
	s.waitServiceType(svc, corev1.ServiceTypeNodePort)
	if nodePort(svc, "http2") != port {
		t.Fatalf("the cutover changed the nodePort %d to %d", port, nodePort(svc, "http2"))
	}
	s.waitDNS("gw")
}

func TestACutoverGoesALBThenAliasThenService(t *testing.T) {
	s := newScenario(t, scenarioOptions{})
	svc := s.article("/healthz/ready")
	created := time.Now()
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost}, enabled)))
	s.waitServiceType(svc, corev1.ServiceTypeNodePort)
	at := func(reason string) time.Time {
		s.event(s.appNS, "gw", reason)
		var list corev1.EventList
		must(t, s.k8s.List(s.ctx, &list, client.InNamespace(s.appNS)))
		for _, e := range list.Items {
			if e.InvolvedObject.Name == "gw" && e.Reason == reason {
				if !e.EventTime.IsZero() {
					return e.EventTime.Time
				}
				return e.FirstTimestamp.Time
			}
		}
		t.Fatalf("no %s event", reason)
		return time.Time{}
	}
	ready, alias, switched := at(controllers.ReasonLoadBalancerReady), at(controllers.ReasonDNSRecordsSynced), at(controllers.ReasonServiceSwitched)
	if ready.After(alias) || alias.After(switched) {
		t.Fatalf("order: ALB ready %s, alias %s, Service switched %s", ready, alias, switched)
	}
	t.Logf("cutover timeline from the Gateway's creation: ALB ready +%dms, alias +%dms, Service switched +%dms",
		ready.Sub(created).Milliseconds(), alias.Sub(created).Milliseconds(), switched.Sub(created).Milliseconds())
}

func TestKeepServiceTypeBuildsTheALBOnTheNodePortsAndLeavesTheServiceAlone(t *testing.T) {
	s := newScenario(t, scenarioOptions{})
	svc := s.article("/healthz/ready")
	must(t, s.k8s.Get(s.ctx, client.ObjectKeyFromObject(svc), svc))
	before := svc.DeepCopy()
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost},
		map[string]string{"istio-alb.io/enabled": "true", "istio-alb.io/keep-service-type": "true"})))
	s.waitDNS("gw")
	_, _, tg := s.loadBalancer(s.gatewayKey("gw"))
	if aws.ToInt32(tg.Port) != nodePort(before, "http2") {
		t.Fatalf("target group on port %d, want the LoadBalancer Service's nodePort %d", aws.ToInt32(tg.Port), nodePort(before, "http2"))
	}
	must(t, s.k8s.Get(s.ctx, client.ObjectKeyFromObject(svc), svc))
	if svc.ResourceVersion != before.ResourceVersion || !apiequality.Semantic.DeepEqual(svc.Spec, before.Spec) {
		t.Fatalf("keep-service-type changed the Service: %s, annotations %v", svc.Spec.Type, svc.Annotations)
	}
	s.deleteGateway("gw")
	must(t, rig.Eventually(waitAWS, 200*time.Millisecond, func() error {
		if by := s.owned(s.gatewayKey("gw")); len(by) != 0 {
			return fmt.Errorf("left in AWS: %v", by)
		}
		return nil
	}))
	must(t, s.k8s.Get(s.ctx, client.ObjectKeyFromObject(svc), svc))
	if svc.ResourceVersion != before.ResourceVersion {
		t.Fatal("the teardown of a keep-service-type Gateway changed the Service")
	}
}

func TestTeardownRestoresEveryFieldTheSwitchChanged(t *testing.T) {
	s := newScenario(t, scenarioOptions{})
	svc := fixtures.IngressGatewayService(s.istioNS, s.selector, func(svc *corev1.Service) {
		svc.Spec.LoadBalancerSourceRanges = []string{"10.0.0.0/8", "192.168.0.0/16"}
		svc.Spec.LoadBalancerClass = ptr.To("service.k8s.aws/nlb")
		svc.Spec.AllocateLoadBalancerNodePorts = ptr.To(false)
		svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	})
	must(t, s.k8s.Create(s.ctx, svc))
	must(t, s.k8s.Create(s.ctx, fixtures.IngressGatewayDeployment(s.istioNS, s.selector, "/healthz/ready")))
	must(t, s.k8s.Get(s.ctx, client.ObjectKeyFromObject(svc), svc))
	original := svc.DeepCopy()
	if nodePort(svc, "http2") != 0 {
		t.Fatalf("allocateLoadBalancerNodePorts false gave nodePort %d", nodePort(svc, "http2"))
	}
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost}, enabled)))
	s.waitDNS("gw")
	s.waitServiceType(svc, corev1.ServiceTypeNodePort)
	s.event(s.appNS, "gw", controllers.ReasonNodePortsAllocated)
	if len(svc.Spec.LoadBalancerSourceRanges) != 0 || svc.Spec.LoadBalancerClass != nil || svc.Spec.AllocateLoadBalancerNodePorts != nil {
		t.Fatalf("NodePort Service kept LoadBalancer fields: %+v", svc.Spec)
	}

	s.deleteGateway("gw")
	s.waitServiceType(svc, corev1.ServiceTypeLoadBalancer)
	for _, c := range []struct {
		field     string
		got, want any
	}{
		{"loadBalancerSourceRanges", svc.Spec.LoadBalancerSourceRanges, original.Spec.LoadBalancerSourceRanges},
		{"loadBalancerClass", svc.Spec.LoadBalancerClass, original.Spec.LoadBalancerClass},
		{"allocateLoadBalancerNodePorts", svc.Spec.AllocateLoadBalancerNodePorts, original.Spec.AllocateLoadBalancerNodePorts},
		{"externalTrafficPolicy", svc.Spec.ExternalTrafficPolicy, original.Spec.ExternalTrafficPolicy},
		{"healthCheckNodePort", svc.Spec.HealthCheckNodePort, original.Spec.HealthCheckNodePort},
		{"ports", svc.Spec.Ports, original.Spec.Ports},
	} {
		if !apiequality.Semantic.DeepEqual(c.got, c.want) {
			t.Errorf("after teardown %s = %v, want %v as before", c.field, c.got, c.want)
		}
	}
	if _, left := svc.Annotations["istio-alb.io/original-service-type"]; left {
		t.Error("the record of the original Service is left on it")
	}
}

func TestAServiceSharedByAnIstioAndAGatewayAPIGatewayIsRestoredWhenTheLastGoes(t *testing.T) {
	s := newScenario(t, scenarioOptions{})
	must(t, istiod.InstallGatewayClass(s.ctx, s.k8s))
	svc := s.article("/healthz/ready")
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost}, enabled)))
	api := fixtures.GatewayAPIGateway(s.appNS, "api", enabled, fixtures.HTTPListener("http", 80, "api.example.com", gwapiv1.NamespacesFromSame))
	api.Spec.Addresses = []gwapiv1.GatewaySpecAddress{{Type: ptr.To(gwapiv1.HostnameAddressType),
		Value: svc.Name + "." + svc.Namespace + ".svc.cluster.local"}}
	must(t, s.k8s.Create(s.ctx, api))
	s.waitDNS("gw")
	s.waitAPIGateway(s.appNS, "api")
	s.waitServiceType(svc, corev1.ServiceTypeNodePort)

	s.deleteGateway("gw")
	must(t, rig.Eventually(waitAWS, 200*time.Millisecond, func() error {
		if by := s.owned(s.gatewayKey("gw")); len(by) != 0 {
			return fmt.Errorf("istio gateway's resources left: %v", by)
		}
		return nil
	}))
	must(t, s.k8s.Get(s.ctx, client.ObjectKeyFromObject(svc), svc))
	if svc.Spec.Type != corev1.ServiceTypeNodePort {
		t.Fatalf("the Service went back to %s while the Gateway API Gateway still uses it", svc.Spec.Type)
	}
	if by := s.owned(apiKey(s.appNS, "api")); len(by["lb"]) != 1 {
		t.Fatalf("the Gateway API Gateway's ALB is gone: %v", by)
	}

	must(t, s.k8s.Delete(s.ctx, api))
	s.waitServiceType(svc, corev1.ServiceTypeLoadBalancer)
}

func TestASubnetAddedInAWSIsPickedUpWithoutAKubernetesEvent(t *testing.T) {
	s := newScenario(t, scenarioOptions{userErrorRetry: time.Second})
	svc := s.article("/healthz/ready")
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost},
		map[string]string{"istio-alb.io/enabled": "true", "istio-alb.io/subnets": "late-a,late-b"})))
	msg := s.event(s.appNS, "gw", "NetworkNotFound")
	if !strings.Contains(msg, "late-a") {
		t.Fatalf("NetworkNotFound event %q does not name the subnets", msg)
	}
	// The fix is made in AWS only: nothing in Kubernetes changes.
	for i, zone := range []string{"us-east-1a", "us-east-1b"} {
		_, err := s.ec2.CreateSubnet(s.ctx, &ec2.CreateSubnetInput{
			VpcId: aws.String(s.env.VPCID), AvailabilityZone: aws.String(zone), CidrBlock: aws.String(fmt.Sprintf("10.0.%d.0/24", 200+i)),
			TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSubnet,
				Tags: []ec2types.Tag{{Key: aws.String("Name"), Value: aws.String([]string{"late-a", "late-b"}[i])}}}},
		})
		must(t, err)
	}
	s.waitDNS("gw")
	s.waitServiceType(svc, corev1.ServiceTypeNodePort)
	lb, _, _ := s.loadBalancer(s.gatewayKey("gw"))
	if len(lb.AvailabilityZones) != 2 {
		t.Fatalf("ALB in %d zones", len(lb.AvailabilityZones))
	}
}
