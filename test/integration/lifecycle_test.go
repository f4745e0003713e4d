package integration_test

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	istionet "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-alb-operator/istio-alb-operator/aws/clients"
	"github.com/istio-alb-operator/istio-alb-operator/test/fixtures"
	"github.com/istio-alb-operator/istio-alb-operator/test/rig"
)

const waitAWS = 30 * time.Second

func TestANodePortChangeMovesTheTargetGroupAndTheHealthCheck(t *testing.T) {
	s := newScenario(t, scenarioOptions{})
	svc := s.article("/healthz/ready")
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost}, enabled)))
	s.waitDNS("gw")
	_, _, oldTG := s.loadBalancer(s.gatewayKey("gw"))

	must(t, s.k8s.Get(s.ctx, client.ObjectKeyFromObject(svc), svc))
	newHTTP, newStatus := freeNodePort(svc, 0), freeNodePort(svc, 1)
	for i := range svc.Spec.Ports {
		switch svc.Spec.Ports[i].Name {
		case "http2":
			svc.Spec.Ports[i].NodePort = newHTTP
		case "status-port":
			svc.Spec.Ports[i].NodePort = newStatus
		}
	}
	must(t, s.k8s.Update(s.ctx, svc))

	must(t, rig.Eventually(waitAWS, 100*time.Millisecond, func() error {
		by := s.owned(s.gatewayKey("gw"))
		if len(by["tg"]) != 1 {
			return fmt.Errorf("%d target groups", len(by["tg"]))
		}
		_, listeners, tg := s.loadBalancer(s.gatewayKey("gw"))
		if aws.ToInt32(tg.Port) != newHTTP || aws.ToString(tg.HealthCheckPort) != strconv.Itoa(int(newStatus)) {
			return fmt.Errorf("target group port %d health port %s, want %d and %d", aws.ToInt32(tg.Port), aws.ToString(tg.HealthCheckPort), newHTTP, newStatus)
		}
		if l := s.listener(listeners, 443); !forwards(l, tg.TargetGroupArn) {
			return fmt.Errorf("listener still forwards to %s", aws.ToString(l.DefaultActions[0].TargetGroupArn))
		}
		for _, target := range s.targets(tg.TargetGroupArn) {
			if !strings.HasSuffix(target, ":"+strconv.Itoa(int(newHTTP))) {
				return fmt.Errorf("target %s not on the new nodePort", target)
			}
		}
		return nil
	}))
	if aws.ToString(oldTG.TargetGroupArn) == "" {
		t.Fatal("no old target group")
	}
	// The node security group now opens exactly the new nodePorts to the ALB.
	lb, _, _ := s.loadBalancer(s.gatewayKey("gw"))
	groups, err := s.ec2.DescribeSecurityGroups(s.ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{s.env.NodeSecurityGroupID}})
	must(t, err)
	_, backend := s.albGroups(lb)
	want := []string{fmt.Sprintf("tcp %d from %s", newHTTP, backend), fmt.Sprintf("tcp %d from %s", newStatus, backend)}
	sort.Strings(want)
	if got := groupRules(groups.SecurityGroups[0].IpPermissions); got != strings.Join(want, ",") {
		t.Fatalf("node security group rules %s, want %s", got, strings.Join(want, ","))
	}
}

// freeNodePort picks a nodePort in the default range that the Service does not use.
func freeNodePort(svc *corev1.Service, offset int32) int32 {
	used := map[int32]bool{}
	for _, p := range svc.Spec.Ports {
		used[p.NodePort] = true
	}
	for p := int32(32700) - offset*13; p > 30000; p-- {
		if !used[p] {
			return p
		}
	}
	return 0
}

func TestNodesJoiningLeavingAndTurningNotReadyChangeTheRegisteredTargets(t *testing.T) {
	s := newScenario(t, scenarioOptions{nodes: 3, initialNodes: 2})
	svc := s.article("/healthz/ready")
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost}, enabled)))
	s.waitDNS("gw")
	must(t, s.k8s.Get(s.ctx, client.ObjectKeyFromObject(svc), svc))
	port := nodePort(svc, "http2")
	_, _, tg := s.loadBalancer(s.gatewayKey("gw"))
	expect := func(ids ...string) {
		t.Helper()
		var want []string
		for _, id := range ids {
			want = append(want, fmt.Sprintf("%s:%d", id, port))
		}
		sort.Strings(want)
		must(t, rig.Eventually(waitAWS, 100*time.Millisecond, func() error {
			if got := s.targets(tg.TargetGroupArn); strings.Join(got, ",") != strings.Join(want, ",") {
				return fmt.Errorf("targets %v, want %v", got, want)
			}
			return nil
		}))
	}
	i0, i1, i2 := s.env.Instances[0].ID, s.env.Instances[1].ID, s.env.Instances[2].ID
	expect(i0, i1)

	t.Run("a node that joins is registered", func(t *testing.T) {
		s.addNode(2, true)
		expect(i0, i1, i2)
	})
	t.Run("a node that turns NotReady is deregistered", func(t *testing.T) {
		n := s.nodes[1]
		must(t, s.k8s.Get(s.ctx, client.ObjectKeyFromObject(n), n))
		fixtures.SetReady(n, false)
		must(t, s.k8s.Status().Update(s.ctx, n))
		expect(i0, i2)
	})
	t.Run("a cordoned node is deregistered", func(t *testing.T) {
		n := s.nodes[2]
		must(t, s.k8s.Get(s.ctx, client.ObjectKeyFromObject(n), n))
		n.Spec.Unschedulable = true
		must(t, s.k8s.Update(s.ctx, n))
		expect(i0)
	})
	t.Run("a deleted node is deregistered and a returning one registered", func(t *testing.T) {
		n := s.nodes[1]
		must(t, s.k8s.Get(s.ctx, client.ObjectKeyFromObject(n), n))
		fixtures.SetReady(n, true)
		must(t, s.k8s.Status().Update(s.ctx, n))
		expect(i0, i1)
		must(t, s.k8s.Delete(s.ctx, s.nodes[0]))
		expect(i1)
	})
}

func TestAServiceTypeRevertedBySomeoneElseIsSwitchedBackToNodePort(t *testing.T) {
	s := newScenario(t, scenarioOptions{})
	svc := s.article("/healthz/ready")
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost}, enabled)))
	s.waitDNS("gw")
	must(t, s.k8s.Get(s.ctx, client.ObjectKeyFromObject(svc), svc))
	ports := svc.Spec.Ports
	// What a Helm upgrade of the gateway chart does: type LoadBalancer again.
	svc.Spec.Type = corev1.ServiceTypeLoadBalancer
	must(t, s.k8s.Update(s.ctx, svc))
	s.waitServiceType(svc, corev1.ServiceTypeNodePort)
	for i, p := range svc.Spec.Ports {
		if p.NodePort != ports[i].NodePort {
			t.Fatalf("nodePort of %s changed from %d to %d", p.Name, ports[i].NodePort, p.NodePort)
		}
	}
}

func TestTwoGatewaysOnOneServiceAreIndependentAndTheNodePortStaysWhileOneRemains(t *testing.T) {
	s := newScenario(t, scenarioOptions{})
	svc := s.article("/healthz/ready")
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "first", s.selector, []string{"a.example.com"}, enabled)))
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "second", s.selector, []string{"b.example.com"}, enabled)))
	dnsFirst, dnsSecond := s.waitDNS("first"), s.waitDNS("second")
	if dnsFirst == dnsSecond {
		t.Fatalf("both gateways got the same ALB %s", dnsFirst)
	}
	var gw istionet.Gateway
	must(t, s.k8s.Get(s.ctx, client.ObjectKey{Namespace: s.appNS, Name: "first"}, &gw))
	gw.Annotations = nil
	must(t, s.k8s.Update(s.ctx, &gw))
	must(t, rig.Eventually(waitAWS, 100*time.Millisecond, func() error {
		if by := s.owned(s.gatewayKey("first")); len(by) != 0 {
			return fmt.Errorf("first gateway still owns %d kinds of resources", len(by))
		}
		return nil
	}))
	lb, _, _ := s.loadBalancer(s.gatewayKey("second"))
	if aws.ToString(lb.DNSName) != dnsSecond {
		t.Fatalf("second gateway's ALB changed: %s", aws.ToString(lb.DNSName))
	}
	must(t, s.k8s.Get(s.ctx, client.ObjectKeyFromObject(svc), svc))
	if svc.Spec.Type != corev1.ServiceTypeNodePort {
		t.Fatalf("service restored to %s while the second gateway still uses it", svc.Spec.Type)
	}
}

func TestRemovingTheAnnotationThenDeletingTheGatewayLeavesNothingInAWSAndRestoresTheService(t *testing.T) {
	s := newScenario(t, scenarioOptions{})
	svc := s.article("/healthz/ready")
	must(t, s.k8s.Get(s.ctx, client.ObjectKeyFromObject(svc), svc))
	httpNP := nodePort(svc, "http2")
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost}, enabled)))
	s.waitDNS("gw")
	lb, _, _ := s.loadBalancer(s.gatewayKey("gw"))
	albSG := lb.SecurityGroups[0]

	before := s.calls.Snapshot()
	var gw istionet.Gateway
	must(t, s.k8s.Get(s.ctx, client.ObjectKey{Namespace: s.appNS, Name: "gw"}, &gw))
	delete(gw.Annotations, "istio-alb.io/enabled")
	must(t, s.k8s.Update(s.ctx, &gw))
	s.event(s.appNS, "gw", "CleanedUp")
	t.Logf("AWS calls of the teardown: %s", strings.Join(clients.Format(s.calls.Since(before)), " "))

	if by := s.owned(s.gatewayKey("gw")); len(by) != 0 {
		t.Fatalf("resources left for the gateway: %v", by)
	}
	groups, err := s.ec2.DescribeSecurityGroups(s.ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{s.env.NodeSecurityGroupID}})
	must(t, err)
	if rules := groupRules(groups.SecurityGroups[0].IpPermissions); rules != "" {
		t.Fatalf("node security group still has our rules: %s", rules)
	}
	if _, err := s.ec2.DescribeSecurityGroups(s.ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{albSG}}); err == nil {
		t.Fatalf("ALB security group %s still exists", albSG)
	}
	must(t, s.k8s.Get(s.ctx, client.ObjectKeyFromObject(svc), svc))
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || nodePort(svc, "http2") != httpNP {
		t.Fatalf("service not restored: type %s http2 nodePort %d (was %d)", svc.Spec.Type, nodePort(svc, "http2"), httpNP)
	}
	if _, ok := svc.Annotations["istio-alb.io/original-service-type"]; ok {
		t.Fatal("original-service-type annotation left on the service")
	}
	must(t, s.k8s.Get(s.ctx, client.ObjectKey{Namespace: s.appNS, Name: "gw"}, &gw))
	if len(gw.Finalizers) != 0 || gw.Annotations["istio-alb.io/load-balancer-dns"] != "" {
		t.Fatalf("gateway keeps finalizers %v or annotations %v", gw.Finalizers, gw.Annotations)
	}

	// Deleting the now plain Gateway needs nothing of the operator.
	must(t, s.k8s.Delete(s.ctx, &gw))
	must(t, rig.Eventually(10*time.Second, 100*time.Millisecond, func() error {
		if err := s.k8s.Get(s.ctx, client.ObjectKeyFromObject(&gw), &gw); client.IgnoreNotFound(err) != nil || err == nil {
			return fmt.Errorf("gateway still there")
		}
		return nil
	}))
}

func TestDeletingAnEnabledGatewayDeletesItsALBBeforeTheGatewayGoes(t *testing.T) {
	s := newScenario(t, scenarioOptions{})
	s.article("/healthz/ready")
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost}, enabled)))
	s.waitDNS("gw")
	s.deleteGateway("gw")
	must(t, rig.Eventually(waitAWS, 100*time.Millisecond, func() error {
		var gw istionet.Gateway
		if err := s.k8s.Get(s.ctx, client.ObjectKey{Namespace: s.appNS, Name: "gw"}, &gw); err == nil {
			return fmt.Errorf("gateway still there with finalizers %v", gw.Finalizers)
		}
		return nil
	}))
	if by := s.owned(s.gatewayKey("gw")); len(by) != 0 {
		t.Fatalf("resources left for the deleted gateway: %v", by)
	}
}

func TestAChangeOfSchemeReplacesTheALBAndDeletesTheOldOne(t *testing.T) {
	s := newScenario(t, scenarioOptions{})
	s.article("/healthz/ready")
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost}, enabled)))
	oldDNS := s.waitDNS("gw")
	old, _, _ := s.loadBalancer(s.gatewayKey("gw"))

	var gw istionet.Gateway
	must(t, s.k8s.Get(s.ctx, client.ObjectKey{Namespace: s.appNS, Name: "gw"}, &gw))
	gw.Annotations["istio-alb.io/scheme"] = "internal"
	must(t, s.k8s.Update(s.ctx, &gw))
	must(t, rig.Eventually(waitAWS, 100*time.Millisecond, func() error {
		by := s.owned(s.gatewayKey("gw"))
		if len(by["lb"]) != 1 {
			return fmt.Errorf("%d load balancers", len(by["lb"]))
		}
		lb, listeners, tg := s.loadBalancer(s.gatewayKey("gw"))
		if lb.Scheme != "internal" || aws.ToString(lb.LoadBalancerArn) == aws.ToString(old.LoadBalancerArn) {
			return fmt.Errorf("scheme %s", lb.Scheme)
		}
		if len(listeners) != 2 || !forwards(s.listener(listeners, 443), tg.TargetGroupArn) {
			return fmt.Errorf("the new ALB's listener is not forwarding to the target group")
		}
		return nil
	}))
	newLB, _, _ := s.loadBalancer(s.gatewayKey("gw"))
	must(t, rig.Eventually(10*time.Second, 100*time.Millisecond, func() error {
		must(t, s.k8s.Get(s.ctx, client.ObjectKey{Namespace: s.appNS, Name: "gw"}, &gw))
		if dns := gw.Annotations["istio-alb.io/load-balancer-dns"]; dns == oldDNS || dns != aws.ToString(newLB.DNSName) {
			return fmt.Errorf("the annotation names %s, want the new ALB %s", dns, aws.ToString(newLB.DNSName))
		}
		return nil
	}))
}

func TestAClusterIPGatewayServiceIsRestoredToClusterIPWithoutNodePorts(t *testing.T) {
	s := newScenario(t, scenarioOptions{})
	svc := fixtures.IngressGatewayService(s.istioNS, s.selector, func(svc *corev1.Service) { svc.Spec.Type = corev1.ServiceTypeClusterIP })
	must(t, s.k8s.Create(s.ctx, svc))
	must(t, s.k8s.Create(s.ctx, fixtures.IngressGatewayDeployment(s.istioNS, s.selector, "/healthz/ready")))
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost}, enabled)))
	s.waitDNS("gw")
	must(t, s.k8s.Get(s.ctx, client.ObjectKeyFromObject(svc), svc))
	if svc.Spec.Type != corev1.ServiceTypeNodePort || nodePort(svc, "http2") == 0 {
		t.Fatalf("service %s with http2 nodePort %d", svc.Spec.Type, nodePort(svc, "http2"))
	}
	_, _, tg := s.loadBalancer(s.gatewayKey("gw"))
	if aws.ToInt32(tg.Port) != nodePort(svc, "http2") {
		t.Fatalf("target group on %d, the allocated nodePort is %d", aws.ToInt32(tg.Port), nodePort(svc, "http2"))
	}
	s.deleteGateway("gw")
	s.waitServiceType(svc, corev1.ServiceTypeClusterIP)
	for _, p := range svc.Spec.Ports {
		if p.NodePort != 0 {
			t.Fatalf("port %s kept nodePort %d after the restore to ClusterIP", p.Name, p.NodePort)
		}
	}
}
