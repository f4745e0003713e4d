package integration_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	istionet "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build/frontend"
	"github.com/istio-alb-operator/istio-alb-operator/aws/clients"
	"github.com/istio-alb-operator/istio-alb-operator/controllers"
	"github.com/istio-alb-operator/istio-alb-operator/test/fixtures"
	"github.com/istio-alb-operator/istio-alb-operator/test/rig"
)

var ipEnabled = map[string]string{"istio-alb.io/enabled": "true", "istio-alb.io/target-type": "ip"}

// ipArticle creates the article's gateway Service and Deployment with the http2 port targeting
// the container port by name (resolved through the pod template, as kube-proxy does), and
// returns the Service as created.
func (s *scenario) ipArticle() *corev1.Service {
	s.t.Helper()
	svc := fixtures.IngressGatewayService(s.istioNS, s.selector, func(svc *corev1.Service) {
		svc.Spec.Ports[1].TargetPort = intstr.FromString("http2")
	})
	dep := fixtures.IngressGatewayDeployment(s.istioNS, s.selector, "/healthz/ready")
	dep.Spec.Template.Spec.Containers[0].Ports[1].Name = "http2"
	must(s.t, s.k8s.Create(s.ctx, svc))
	must(s.t, s.k8s.Create(s.ctx, dep))
	must(s.t, s.k8s.Create(s.ctx, fixtures.TestService(s.appNS)))
	return svc
}

// pod is one endpoint of the gateway Service as the endpoint controller writes it.
type pod struct {
	ip                 string
	ready, terminating bool
}

// endpoints writes the EndpointSlice of the gateway Service (envtest runs no endpoint
// controller): one endpoint per pod, with the Service's ports resolved to container ports.
func (s *scenario) endpoints(svc *corev1.Service, name string, pods ...pod) {
	s.t.Helper()
	es := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: svc.Namespace, Name: name,
		Labels: map[string]string{discoveryv1.LabelServiceName: svc.Name, discoveryv1.LabelManagedBy: "endpointslice-controller.k8s.io"}}}
	_, err := controllerutil.CreateOrUpdate(s.ctx, s.k8s, es, func() error {
		es.AddressType = discoveryv1.AddressTypeIPv4
		es.Ports = []discoveryv1.EndpointPort{
			{Name: ptr.To("status-port"), Port: ptr.To[int32](15021), Protocol: ptr.To(corev1.ProtocolTCP)},
			{Name: ptr.To("http2"), Port: ptr.To[int32](8080), Protocol: ptr.To(corev1.ProtocolTCP)},
			{Name: ptr.To("https"), Port: ptr.To[int32](8443), Protocol: ptr.To(corev1.ProtocolTCP)},
		}
		es.Endpoints = nil
		for _, p := range pods {
			es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{p.ip}, Conditions: discoveryv1.EndpointConditions{
				Ready: ptr.To(p.ready), Serving: ptr.To(p.ready || p.terminating), Terminating: ptr.To(p.terminating)}})
		}
		return nil
	})
	must(s.t, err)
}

// expectTargets waits until the target group's targets are the IPs on port, and returns the AWS
// writes made meanwhile.
func (s *scenario) expectTargets(tgARN *string, port int32, before map[clients.Call]int, ips ...string) map[clients.Call]int {
	s.t.Helper()
	var want []string
	for _, ip := range ips {
		want = append(want, fmt.Sprintf("%s:%d", ip, port))
	}
	slices.Sort(want)
	must(s.t, rig.Eventually(waitAWS, 100*time.Millisecond, func() error {
		if got := s.targets(tgARN); strings.Join(got, ",") != strings.Join(want, ",") {
			return fmt.Errorf("targets %v, want %v", got, want)
		}
		return nil
	}))
	return mutating(s.calls.Since(before))
}

// onlyTargetWrites fails when a change of the pods made AWS writes other than target
// (de)registrations.
func onlyTargetWrites(t *testing.T, writes map[clients.Call]int) {
	t.Helper()
	for c := range writes {
		if c.Operation != "RegisterTargets" && c.Operation != "DeregisterTargets" {
			t.Fatalf("a change of the pods made writes beyond the targets: %v", clients.Format(writes))
		}
	}
}

func TestIPTargetsAreTheReadyGatewayPodsAndTheServiceIsNotSwitched(t *testing.T) {
	s := newScenario(t, scenarioOptions{})
	f := s.addForeign()
	svc := s.ipArticle()
	// Pod IPs in the nodes' (private) subnets 10.0.100.0/24 and 10.0.101.0/24: ELBv2 takes ip
	// targets of the target group's VPC only.
	s.endpoints(svc, "istio-ingressgateway-a", pod{ip: "10.0.100.10", ready: true}, pod{ip: "10.0.101.11", ready: true}, pod{ip: "10.0.100.12"})
	must(t, s.k8s.Get(s.ctx, client.ObjectKeyFromObject(svc), svc))
	version := svc.ResourceVersion

	before := s.calls.Snapshot()
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost}, ipEnabled)))
	dns := s.waitDNS("gw")
	t.Logf("AWS calls of the create (%d): %s", total(s.calls.Since(before)), strings.Join(clients.Format(s.calls.Since(before)), " "))
	s.assertOneStack(f, articleHost)

	// The target group: type ip on the container port the named targetPort resolves to (8080,
	// no nodePort), health-checked on the pods' status port 15021 at the readiness path.
	lb, listeners, tg := s.loadBalancer(s.gatewayKey("gw"))
	if aws.ToString(lb.DNSName) != dns {
		t.Fatalf("load balancer %s, annotation %s", aws.ToString(lb.DNSName), dns)
	}
	if tg.TargetType != elbv2types.TargetTypeEnumIp || aws.ToInt32(tg.Port) != 8080 || tg.Protocol != elbv2types.ProtocolEnumHttp || aws.ToString(tg.VpcId) != s.env.VPCID {
		t.Fatalf("target group type %s port %d protocol %s vpc %s, want ip on 8080 HTTP in %s", tg.TargetType, aws.ToInt32(tg.Port), tg.Protocol, aws.ToString(tg.VpcId), s.env.VPCID)
	}
	if aws.ToString(tg.HealthCheckPort) != "15021" || aws.ToString(tg.HealthCheckPath) != "/healthz/ready" || tg.HealthCheckProtocol != elbv2types.ProtocolEnumHttp {
		t.Fatalf("health check %s %s:%s, want HTTP /healthz/ready on 15021", tg.HealthCheckProtocol, aws.ToString(tg.HealthCheckPath), aws.ToString(tg.HealthCheckPort))
	}
	if !forwards(s.listener(listeners, 443), tg.TargetGroupArn) {
		t.Fatal("HTTPS does not forward to the ip target group")
	}
	s.expectTargets(tg.TargetGroupArn, 8080, s.calls.Snapshot(), "10.0.100.10", "10.0.101.11")

	// Security: the node group (the VPC CNI's pods share it) lets the backend group reach the
	// container ports, not nodePorts.
	_, backend := s.albGroups(lb)
	groups, err := s.ec2.DescribeSecurityGroups(s.ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{s.env.NodeSecurityGroupID}})
	must(t, err)
	if got, want := groupRules(groups.SecurityGroups[0].IpPermissions), fmt.Sprintf("tcp 15021 from %s,tcp 8080 from %s", backend, backend); got != want {
		t.Fatalf("node security group rules %s, want %s", got, want)
	}

	// The Service: not switched, not even written.
	must(t, s.k8s.Get(s.ctx, client.ObjectKeyFromObject(svc), svc))
	if svc.ResourceVersion != version || svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		t.Fatalf("the Service was changed: type %s, resourceVersion %s (was %s), annotations %v", svc.Spec.Type, svc.ResourceVersion, version, svc.Annotations)
	}
	s.event(s.appNS, "gw", controllers.ReasonLoadBalancerReady)
	t.Run("an idle re-reconcile makes no AWS call", func(t *testing.T) { s.assertIdleReconcile("gw") })

	t.Run("a pod turning unready leaves the targets", func(t *testing.T) {
		before := s.calls.Snapshot()
		s.endpoints(svc, "istio-ingressgateway-a", pod{ip: "10.0.100.10", ready: true}, pod{ip: "10.0.101.11"}, pod{ip: "10.0.100.12"})
		onlyTargetWrites(t, s.expectTargets(tg.TargetGroupArn, 8080, before, "10.0.100.10"))
	})
	t.Run("a pod turning ready joins them", func(t *testing.T) {
		before := s.calls.Snapshot()
		s.endpoints(svc, "istio-ingressgateway-a", pod{ip: "10.0.100.10", ready: true}, pod{ip: "10.0.101.11"}, pod{ip: "10.0.100.12", ready: true})
		onlyTargetWrites(t, s.expectTargets(tg.TargetGroupArn, 8080, before, "10.0.100.10", "10.0.100.12"))
	})
	t.Run("a terminating pod is deregistered (the ALB drains it)", func(t *testing.T) {
		before := s.calls.Snapshot()
		s.endpoints(svc, "istio-ingressgateway-a", pod{ip: "10.0.100.10", terminating: true}, pod{ip: "10.0.101.11"}, pod{ip: "10.0.100.12", ready: true})
		onlyTargetWrites(t, s.expectTargets(tg.TargetGroupArn, 8080, before, "10.0.100.12"))
	})
	t.Run("deleted pods leave, a pod of another slice joins", func(t *testing.T) {
		before := s.calls.Snapshot()
		s.endpoints(svc, "istio-ingressgateway-a", pod{ip: "10.0.101.11"})
		s.endpoints(svc, "istio-ingressgateway-b", pod{ip: "10.0.101.20", ready: true})
		onlyTargetWrites(t, s.expectTargets(tg.TargetGroupArn, 8080, before, "10.0.101.20"))
	})

	t.Run("the teardown leaves nothing and does not touch the Service", func(t *testing.T) {
		s.deleteGateway("gw")
		s.event(s.appNS, "gw", "CleanedUp")
		must(t, rig.Eventually(waitAWS, 100*time.Millisecond, func() error {
			if by := s.owned(s.gatewayKey("gw")); len(by) != 0 {
				return fmt.Errorf("resources left for the gateway: %v", by)
			}
			return nil
		}))
		s.assertOnlyForeign(f)
		must(t, s.k8s.Get(s.ctx, client.ObjectKeyFromObject(svc), svc))
		if svc.ResourceVersion != version {
			t.Fatalf("the teardown changed the Service: resourceVersion %s (was %s), type %s", svc.ResourceVersion, version, svc.Spec.Type)
		}
	})
}

func TestIPTargetsNeedNoNodesWhenTheVPCIsGiven(t *testing.T) {
	// A Fargate-only cluster: no Node has an EC2 providerID; the operator is told the VPC.
	s := newScenario(t, scenarioOptions{noManager: true})
	for _, n := range s.nodes {
		must(t, s.k8s.Delete(s.ctx, n))
	}
	s.nodes = nil
	f := s.addForeign()
	s.startManagerWith(controllers.Options{SyncPeriod: 10 * time.Minute, VPCID: s.env.VPCID})
	svc := s.ipArticle()
	s.endpoints(svc, "istio-ingressgateway-a", pod{ip: "10.0.100.10", ready: true})
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost}, ipEnabled)))
	s.waitDNS("gw")

	lb, _, tg := s.loadBalancer(s.gatewayKey("gw"))
	if tg.TargetType != elbv2types.TargetTypeEnumIp || aws.ToString(tg.VpcId) != s.env.VPCID {
		t.Fatalf("target group type %s vpc %s", tg.TargetType, aws.ToString(tg.VpcId))
	}
	s.expectTargets(tg.TargetGroupArn, 8080, s.calls.Snapshot(), "10.0.100.10")
	// The ALB carries the backend group (the one source pod security groups need to allow); no
	// node group is touched.
	s.albGroups(lb)
	if inv := s.inventory(); len(inv.NodeRules) != 0 {
		t.Fatalf("node security group rules %v without nodes", inv.NodeRules)
	}
	s.deleteGateway("gw")
	s.event(s.appNS, "gw", "CleanedUp")
	s.assertOnlyForeign(f)
}

func TestAGatewayAPIGatewayWithIPTargetsLeavesIstiodsServiceAlone(t *testing.T) {
	s := newScenario(t, scenarioOptions{istiod: true})
	ns := s.istioNS
	must(t, s.k8s.Create(s.ctx, fixtures.GatewayAPIGateway(ns, "gateway", ipEnabled, fixtures.HTTPListener("http", 80, "*.example.com", gwapiv1.NamespacesFromSame))))
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gateway-istio"}}
	s.waitServiceType(svc, corev1.ServiceTypeLoadBalancer)
	s.endpoints(svc, "gateway-istio-a", pod{ip: "10.0.100.30", ready: true}, pod{ip: "10.0.101.31", ready: true})
	gw := s.waitAPIGateway(ns, "gateway")

	// istiod is not asked for a NodePort Service: the ALB reaches the pods on the listener port.
	if _, asked := gw.Annotations[frontend.IstioServiceTypeAnnotation]; asked {
		t.Fatalf("the Gateway was annotated %s=%s", frontend.IstioServiceTypeAnnotation, gw.Annotations[frontend.IstioServiceTypeAnnotation])
	}
	_, _, tg := s.loadBalancer(apiKey(ns, "gateway"))
	if tg.TargetType != elbv2types.TargetTypeEnumIp || aws.ToInt32(tg.Port) != 80 || aws.ToString(tg.HealthCheckPort) != "15021" {
		t.Fatalf("target group type %s port %d health port %s", tg.TargetType, aws.ToInt32(tg.Port), aws.ToString(tg.HealthCheckPort))
	}
	s.expectTargets(tg.TargetGroupArn, 80, s.calls.Snapshot(), "10.0.100.30", "10.0.101.31")

	// The EndpointSlice of istiod's Service reaches its Gateway.
	before := s.calls.Snapshot()
	s.endpoints(svc, "gateway-istio-a", pod{ip: "10.0.100.30", ready: true}, pod{ip: "10.0.101.31"})
	onlyTargetWrites(t, s.expectTargets(tg.TargetGroupArn, 80, before, "10.0.100.30"))
	must(t, s.k8s.Get(s.ctx, client.ObjectKeyFromObject(svc), svc))
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		t.Fatalf("istiod's Service is %s", svc.Spec.Type)
	}
}

func TestSwitchingAnInstanceGatewayToIPTargetsReplacesTheTargetGroupAndTheNodeRules(t *testing.T) {
	s := newScenario(t, scenarioOptions{})
	f := s.addForeign()
	svc := s.article("/healthz/ready")
	s.endpoints(svc, "istio-ingressgateway-a", pod{ip: "10.0.100.10", ready: true})
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost}, enabled)))
	s.waitDNS("gw")
	s.waitServiceType(svc, corev1.ServiceTypeNodePort)
	_, _, old := s.loadBalancer(s.gatewayKey("gw"))

	var gw istionet.Gateway
	must(t, s.k8s.Get(s.ctx, client.ObjectKey{Namespace: s.appNS, Name: "gw"}, &gw))
	gw.Annotations["istio-alb.io/target-type"] = "ip"
	must(t, s.k8s.Update(s.ctx, &gw))
	// The target type cannot change in place: a new target group, the listeners moved to it, the
	// old one deleted; the node rules open the container ports instead of the nodePorts.
	var tg elbv2types.TargetGroup
	must(t, rig.Eventually(waitAWS, 200*time.Millisecond, func() error {
		by := s.owned(s.gatewayKey("gw"))
		if len(by["tg"]) != 1 || aws.ToString(by["tg"][0].ResourceARN) == aws.ToString(old.TargetGroupArn) {
			return fmt.Errorf("target groups %d, want the new one only", len(by["tg"]))
		}
		var listeners []elbv2types.Listener
		_, listeners, tg = s.loadBalancer(s.gatewayKey("gw"))
		if !forwards(s.listener(listeners, 443), tg.TargetGroupArn) {
			return fmt.Errorf("HTTPS does not forward to the new target group yet")
		}
		return nil
	}))
	if tg.TargetType != elbv2types.TargetTypeEnumIp || aws.ToInt32(tg.Port) != 8080 {
		t.Fatalf("target group type %s port %d", tg.TargetType, aws.ToInt32(tg.Port))
	}
	s.expectTargets(tg.TargetGroupArn, 8080, s.calls.Snapshot(), "10.0.100.10")
	must(t, rig.Eventually(waitAWS, 200*time.Millisecond, func() error {
		inv := s.inventory()
		if got := strings.Join(inv.NodeRules, ","); !strings.Contains(got, "tcp 15021 from") || !strings.Contains(got, "tcp 8080 from") || len(inv.NodeRules) != 2 {
			return fmt.Errorf("node rules %v, want the container ports 8080 and 15021 only", inv.NodeRules)
		}
		return nil
	}))

	// The Service keeps what the instance mode made of it until the teardown restores it.
	must(t, s.k8s.Get(s.ctx, client.ObjectKeyFromObject(svc), svc))
	if svc.Spec.Type != corev1.ServiceTypeNodePort {
		t.Fatalf("the Service is %s after the switch to ip targets", svc.Spec.Type)
	}
	s.deleteGateway("gw")
	s.waitServiceType(svc, corev1.ServiceTypeLoadBalancer)
	s.event(s.appNS, "gw", "CleanedUp")
	s.assertOnlyForeign(f)
}
