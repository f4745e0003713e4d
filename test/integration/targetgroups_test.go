package integration_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	istionet "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build"
	"github.com/istio-alb-operator/istio-alb-operator/aws/clients"
	"github.com/istio-alb-operator/istio-alb-operator/controllers"
	"github.com/istio-alb-operator/istio-alb-operator/test/fixtures"
	"github.com/istio-alb-operator/istio-alb-operator/test/rig"
)

const (
	tgAttributes = "istio-alb.io/target-group-attributes"
	deregDelay   = "deregistration_delay.timeout_seconds"
)

// targetGroupAttributes reads a target group's attributes back from AWS.
func (s *scenario) targetGroupAttributes(arn *string) map[string]string {
	s.t.Helper()
	out, err := s.elb.DescribeTargetGroupAttributes(s.ctx, &elbv2.DescribeTargetGroupAttributesInput{TargetGroupArn: arn})
	must(s.t, err)
	have := map[string]string{}
	for _, a := range out.Attributes {
		have[aws.ToString(a.Key)] = aws.ToString(a.Value)
	}
	return have
}

// onlyTargetGroup waits until the gateway owns exactly one target group and check passes on it
// (a replacement has two for a moment).
func (s *scenario) onlyTargetGroup(gatewayKey string, check func(elbv2types.TargetGroup) error) elbv2types.TargetGroup {
	s.t.Helper()
	var tg elbv2types.TargetGroup
	must(s.t, rig.Eventually(waitAWS, 200*time.Millisecond, func() error {
		by := s.owned(gatewayKey)
		if len(by["tg"]) != 1 {
			return fmt.Errorf("%d target groups", len(by["tg"]))
		}
		out, err := s.elb.DescribeTargetGroups(s.ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: []string{aws.ToString(by["tg"][0].ResourceARN)}})
		if err != nil {
			return err
		}
		tg = out.TargetGroups[0]
		return check(tg)
	}))
	return tg
}

// grpcRoute attaches to the Gateway's listener section with hostnames.
func grpcRoute(namespace, name, gatewayNamespace, gateway, section string, hostnames ...string) *gwapiv1.GRPCRoute {
	ns, sec := gwapiv1.Namespace(gatewayNamespace), gwapiv1.SectionName(section)
	rt := &gwapiv1.GRPCRoute{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}
	rt.Spec.ParentRefs = []gwapiv1.ParentReference{{Name: gwapiv1.ObjectName(gateway), Namespace: &ns, SectionName: &sec}}
	for _, h := range hostnames {
		rt.Spec.Hostnames = append(rt.Spec.Hostnames, gwapiv1.Hostname(h))
	}
	port := gwapiv1.PortNumber(50051)
	rt.Spec.Rules = []gwapiv1.GRPCRouteRule{{BackendRefs: []gwapiv1.GRPCBackendRef{{BackendRef: gwapiv1.BackendRef{
		BackendObjectReference: gwapiv1.BackendObjectReference{Name: "greeter", Port: &port}}}}}}
	return rt
}

func TestAGRPCServerGetsAGRPCTargetGroupBehindHTTPSAndAProtocolChangeReplacesIt(t *testing.T) {
	s := newScenario(t, scenarioOptions{})
	svc := s.article("/healthz/ready")
	gw := fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost}, enabled)
	gw.Spec.Servers[0].Port.Protocol = "GRPC"
	must(t, s.k8s.Create(s.ctx, gw))
	s.waitDNS("gw")
	https, http, _, _, tg := s.https("gw")

	// Read back from AWS: gRPC to the targets, a gRPC health check on the status nodePort.
	if v := aws.ToString(tg.ProtocolVersion); v != "GRPC" {
		t.Fatalf("protocol version %s, want GRPC", v)
	}
	if tg.Matcher == nil || aws.ToString(tg.Matcher.GrpcCode) != "12" || tg.Matcher.HttpCode != nil {
		t.Fatalf("matcher %+v, want gRPC code 12 (UNIMPLEMENTED) only", tg.Matcher)
	}
	if aws.ToString(tg.HealthCheckPath) != "/AWS.ALB/healthcheck" || aws.ToString(tg.HealthCheckPort) != strconv.Itoa(int(nodePort(svc, "status-port"))) ||
		tg.HealthCheckProtocol != elbv2types.ProtocolEnumHttp {
		t.Fatalf("health check %s %s:%s, want HTTP on the status nodePort %d at /AWS.ALB/healthcheck", tg.HealthCheckProtocol,
			aws.ToString(tg.HealthCheckPort), aws.ToString(tg.HealthCheckPath), nodePort(svc, "status-port"))
	}
	if !forwards(https, tg.TargetGroupArn) {
		t.Fatalf("HTTPS does not forward to the gRPC group: %+v", https.DefaultActions)
	}
	assertRedirect(t, http) // the ALB forwards to a gRPC group only from HTTPS
	if v := s.targetGroupAttributes(tg.TargetGroupArn)[deregDelay]; v != "30" {
		t.Fatalf("deregistration delay %q, want the operator's 30", v)
	}
	s.assertIdleReconcile("gw")

	// The protocol version cannot change in place: back to HTTP, a new HTTP/1.1 group takes the
	// listener and the gRPC group is deleted.
	before := s.calls.Snapshot()
	s.updateGateway("gw", func(g *istionet.Gateway) { g.Spec.Servers[0].Port.Protocol = "HTTP" })
	now := s.onlyTargetGroup(s.gatewayKey("gw"), func(g elbv2types.TargetGroup) error {
		if aws.ToString(g.TargetGroupArn) == aws.ToString(tg.TargetGroupArn) || aws.ToString(g.ProtocolVersion) != "HTTP1" {
			return fmt.Errorf("target group %s version %s", aws.ToString(g.TargetGroupName), aws.ToString(g.ProtocolVersion))
		}
		return nil
	})
	if now.Matcher == nil || aws.ToString(now.Matcher.HttpCode) != "200" || aws.ToString(now.HealthCheckPath) != "/healthz/ready" {
		t.Fatalf("HTTP/1.1 group health check %s matcher %+v", aws.ToString(now.HealthCheckPath), now.Matcher)
	}
	if v := s.targetGroupAttributes(now.TargetGroupArn)[deregDelay]; v != "30" {
		t.Fatalf("the new group's deregistration delay %q, want 30", v)
	}
	must(t, rig.Eventually(waitAWS, 200*time.Millisecond, func() error {
		https, _, _, _, _ := s.https("gw")
		if !forwards(https, now.TargetGroupArn) {
			return fmt.Errorf("HTTPS forwards to %+v", https.DefaultActions)
		}
		return nil
	}))
	_, err := s.elb.DescribeTargetGroups(s.ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: []string{aws.ToString(tg.TargetGroupArn)}})
	if !clients.IsNotFound(err) {
		t.Fatalf("the replaced gRPC group is still there (%v)", err)
	}
	t.Logf("AWS calls of the replacement: %s", strings.Join(clients.Format(s.calls.Since(before)), " "))
}

func TestAGRPCServerWithoutACertificateKeepsHTTP1AndSaysWhy(t *testing.T) {
	s := newScenario(t, scenarioOptions{})
	s.article("/healthz/ready")
	gw := fixtures.Gateway(s.appNS, "gw", s.selector, []string{"grpc.uncovered.test"}, enabled)
	gw.Spec.Servers[0].Port.Protocol = "GRPC"
	must(t, s.k8s.Create(s.ctx, gw))
	s.waitDNS("gw")
	msg := s.event(s.appNS, "gw", build.ReasonProtocolVersionNeedsHTTPS)
	if !strings.Contains(msg, "GRPC") || !strings.Contains(msg, "HTTPS listener") {
		t.Fatalf("event %q does not say gRPC needs an HTTPS listener", msg)
	}
	_, ls, tg := s.loadBalancer(s.gatewayKey("gw"))
	if aws.ToString(tg.ProtocolVersion) != "HTTP1" || len(ls) != 1 || !forwards(ls[0], tg.TargetGroupArn) {
		t.Fatalf("version %s, %d listeners: want HTTP1 forwarded from HTTP:80 (no certificate covers the host)", aws.ToString(tg.ProtocolVersion), len(ls))
	}
}

func TestAGatewayAPIListenerOfGRPCRoutesGetsAGRPCTargetGroupAndAnHTTPRouteBesideThemWarns(t *testing.T) {
	s := newScenario(t, scenarioOptions{istiod: true})
	gwNS := s.istioNS
	must(t, s.k8s.Create(s.ctx, fixtures.GatewayAPIGateway(gwNS, "gateway", enabled,
		fixtures.HTTPListener("api", 80, "*.example.com", gwapiv1.NamespacesFromAll))))
	must(t, s.k8s.Create(s.ctx, grpcRoute(s.appNS, "greeter", gwNS, "gateway", "api", "greeter.example.com")))
	s.waitAPIGateway(gwNS, "gateway")
	svc := corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: gwNS, Name: "gateway-istio"}}
	s.waitServiceType(&svc, corev1.ServiceTypeNodePort)
	tg := s.onlyTargetGroup(apiKey(gwNS, "gateway"), func(g elbv2types.TargetGroup) error {
		if aws.ToString(g.ProtocolVersion) != "GRPC" {
			return fmt.Errorf("protocol version %s, want GRPC; events: %s", aws.ToString(g.ProtocolVersion), s.eventSummary("gateway"))
		}
		return nil
	})
	if tg.Matcher == nil || aws.ToString(tg.Matcher.GrpcCode) != "12" || aws.ToString(tg.HealthCheckPort) != strconv.Itoa(int(nodePort(&svc, "status-port"))) {
		t.Fatalf("health check port %s matcher %+v", aws.ToString(tg.HealthCheckPort), tg.Matcher)
	}

	// An HTTPRoute on the same listener: one target group cannot speak both, so it goes back to
	// HTTP/1.1 (a new group), with a Warning naming the listener.
	must(t, s.k8s.Create(s.ctx, fixtures.HTTPRoute(s.appNS, "web", gwNS, "gateway", "api", "web.example.com")))
	s.onlyTargetGroup(apiKey(gwNS, "gateway"), func(g elbv2types.TargetGroup) error {
		if aws.ToString(g.ProtocolVersion) != "HTTP1" {
			return fmt.Errorf("protocol version %s, want HTTP1", aws.ToString(g.ProtocolVersion))
		}
		return nil
	})
	s.eventsWith(gwNS, "gateway", build.ReasonMixedProtocolVersions, "listener api", "GRPCRoutes and HTTPRoutes")
}

func TestTargetGroupAttributesAreAppliedInPlaceAndARemovedKeyRevertsToItsDefault(t *testing.T) {
	s := newScenario(t, scenarioOptions{noManager: true})
	s.article("/healthz/ready")
	// Every gateway's whole stack is read back every 2s (attributes included), so a hand change
	// is repaired within the scenario and a read-back that finds nothing to do writes nothing.
	s.startManagerWith(controllers.Options{SyncPeriod: time.Second, FullSyncPeriod: 2 * time.Second})
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost}, map[string]string{"istio-alb.io/enabled": "true"})))
	s.waitDNS("gw")
	_, _, tg := s.loadBalancer(s.gatewayKey("gw"))
	arn := tg.TargetGroupArn
	waitAttributes := func(want map[string]string) {
		t.Helper()
		must(t, rig.Eventually(waitAWS, 200*time.Millisecond, func() error {
			have := s.targetGroupAttributes(arn)
			for k, v := range want {
				if have[k] != v {
					return fmt.Errorf("%s=%q, want %q (all: %v)", k, have[k], v, have)
				}
			}
			return nil
		}))
	}
	// A plain gateway: the operator's deregistration delay, AWS's defaults for the rest.
	waitAttributes(map[string]string{deregDelay: "30", "stickiness.enabled": "false"})

	set := map[string]string{deregDelay: "10", "stickiness.enabled": "true", "stickiness.lb_cookie.duration_seconds": "3600",
		"load_balancing.algorithm.type": "least_outstanding_requests"}
	s.updateGateway("gw", func(g *istionet.Gateway) {
		g.Annotations[tgAttributes] = "deregistration_delay.timeout_seconds=10,stickiness.enabled=true,stickiness.lb_cookie.duration_seconds=3600,load_balancing.algorithm.type=least_outstanding_requests"
	})
	waitAttributes(set)

	t.Run("read-backs that find the attributes as wanted write nothing", func(t *testing.T) {
		before := s.calls.Snapshot()
		read := clients.Call{Service: "Elastic Load Balancing v2", Operation: "DescribeTargetGroupAttributes"}
		must(t, rig.Eventually(15*time.Second, 200*time.Millisecond, func() error {
			if n := s.calls.Since(before)[read]; n < 2 {
				return fmt.Errorf("%d attribute read-backs so far", n)
			}
			return nil
		}))
		if w := mutating(s.calls.Since(before)); len(w) != 0 {
			t.Fatalf("read-backs without a difference wrote: %v", clients.Format(w))
		}
	})

	t.Run("a hand change is put back", func(t *testing.T) {
		_, err := s.elb.ModifyTargetGroupAttributes(s.ctx, &elbv2.ModifyTargetGroupAttributesInput{TargetGroupArn: arn,
			Attributes: []elbv2types.TargetGroupAttribute{{Key: aws.String("stickiness.enabled"), Value: aws.String("false")}}})
		must(t, err)
		waitAttributes(set)
	})

	t.Run("a bad value is reported naming the pair and nothing is written", func(t *testing.T) {
		before := s.calls.Snapshot()
		s.updateGateway("gw", func(g *istionet.Gateway) {
			g.Annotations[tgAttributes] = "deregistration_delay.timeout_seconds=10,slow_start.duration_seconds=5"
		})
		s.eventsWith(s.appNS, "gw", build.ReasonInvalidAnnotation, tgAttributes, "slow_start.duration_seconds=5")
		time.Sleep(3 * time.Second) // a full sync period and more
		if w := mutating(s.calls.Since(before)); len(w) != 0 {
			t.Fatalf("a bad attribute led to writes: %v", clients.Format(w))
		}
		waitAttributes(set)
	})

	// Keys removed from the annotation go back to AWS's defaults, in place.
	s.updateGateway("gw", func(g *istionet.Gateway) { g.Annotations[tgAttributes] = "deregistration_delay.timeout_seconds=10" })
	waitAttributes(map[string]string{deregDelay: "10", "stickiness.enabled": "false", "stickiness.lb_cookie.duration_seconds": "86400",
		"load_balancing.algorithm.type": "round_robin"})
	// The whole annotation removed: the operator's deregistration delay again.
	s.updateGateway("gw", func(g *istionet.Gateway) { delete(g.Annotations, tgAttributes) })
	waitAttributes(map[string]string{deregDelay: "30"})
	_, _, now := s.loadBalancer(s.gatewayKey("gw"))
	if aws.ToString(now.TargetGroupArn) != aws.ToString(arn) {
		t.Fatal("an attribute change replaced the target group")
	}
}
