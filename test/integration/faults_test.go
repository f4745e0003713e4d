package integration_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	istionet "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-alb-operator/istio-alb-operator/aws/clients"
	"github.com/istio-alb-operator/istio-alb-operator/aws/tags"
	"github.com/istio-alb-operator/istio-alb-operator/controllers"
	"github.com/istio-alb-operator/istio-alb-operator/test/faults"
	"github.com/istio-alb-operator/istio-alb-operator/test/fixtures"
	"github.com/istio-alb-operator/istio-alb-operator/test/rig"
)

// startProxy puts a fault-injection proxy in front of the rig's AWS endpoint for the scenario.
func startProxy(t *testing.T) *faults.Proxy {
	t.Helper()
	p, err := faults.Start(rig.Endpoint())
	must(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// waitGone waits until the Istio Gateway no longer exists.
func (s *scenario) waitGone(name string, timeout time.Duration) {
	s.t.Helper()
	must(s.t, rig.Eventually(timeout, 100*time.Millisecond, func() error {
		var gw istionet.Gateway
		if err := s.k8s.Get(s.ctx, client.ObjectKey{Namespace: s.appNS, Name: name}, &gw); !apierrors.IsNotFound(err) {
			return fmt.Errorf("gateway %s still there (%v); events: %s", name, err, s.eventSummary(name))
		}
		return nil
	}))
}

// waitConverged waits until the gateway is programmed and cut over, and AWS holds one stack
// for the article's host.
func (s *scenario) waitConverged(name string, svc *corev1.Service, f foreign) inventory {
	s.t.Helper()
	return s.waitConvergedFor(name, articleHost, svc, f)
}

// waitConvergedFor is waitConverged for a gateway serving host.
func (s *scenario) waitConvergedFor(name, host string, svc *corev1.Service, f foreign) inventory {
	s.t.Helper()
	s.waitDNS(name)
	s.waitServiceType(svc, corev1.ServiceTypeNodePort)
	var inv inventory
	must(s.t, rig.Eventually(waitAWS, 200*time.Millisecond, func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("%v", r)
			}
		}()
		inv = s.inventory()
		if len(inv.Records) != len(f.before.Records)+2 || inv.Listeners != f.before.Listeners+2 {
			return fmt.Errorf("not converged yet: %s", inv)
		}
		return nil
	}))
	return s.assertOneStack(f, host)
}

func TestOurResourcesDeletedOrChangedOutOfBandAreBackWithinASyncPeriod(t *testing.T) {
	const sync = 3 * time.Second
	s := newScenario(t, scenarioOptions{syncPeriod: sync})
	f := s.addForeign()
	svc := s.article("/healthz/ready")
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost}, enabled)))
	s.waitConverged("gw", svc, f)
	r53 := route53.NewFromConfig(s.awsCfg)

	repaired := func(what string, check func() error) {
		t.Helper()
		start := time.Now()
		must(t, rig.Eventually(sync+15*time.Second, 200*time.Millisecond, check))
		t.Logf("%s: back after %dms (sync period %s)", what, time.Since(start).Milliseconds(), sync)
		s.assertOneStack(f, articleHost)
	}

	t.Run("a deleted ALB is built again and the alias follows it", func(t *testing.T) {
		lb, _, _ := s.loadBalancer(s.gatewayKey("gw"))
		_, err := s.elb.DeleteLoadBalancer(s.ctx, &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: lb.LoadBalancerArn})
		must(t, err)
		repaired("the ALB", func() error {
			by := s.owned(s.gatewayKey("gw"))
			if len(by["lb"]) != 1 || aws.ToString(by["lb"][0].ResourceARN) == aws.ToString(lb.LoadBalancerArn) {
				return fmt.Errorf("no new ALB yet")
			}
			now, ls, _ := s.loadBalancer(s.gatewayKey("gw"))
			if len(ls) != 2 {
				return fmt.Errorf("new ALB has %d listeners", len(ls))
			}
			return aliasTo(s.records(s.env.HostedZoneID), articleHost+" A", aws.ToString(now.DNSName), aws.ToString(now.CanonicalHostedZoneId))
		})
	})

	t.Run("a deleted target group is built again with its targets, and the listeners forward to it", func(t *testing.T) {
		_, listeners, tg := s.loadBalancer(s.gatewayKey("gw"))
		for _, l := range listeners { // AWS refuses to delete a target group a listener uses
			_, err := s.elb.DeleteListener(s.ctx, &elbv2.DeleteListenerInput{ListenerArn: l.ListenerArn})
			must(t, err)
		}
		_, err := s.elb.DeleteTargetGroup(s.ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: tg.TargetGroupArn})
		must(t, err)
		repaired("the target group", func() error {
			by := s.owned(s.gatewayKey("gw"))
			if len(by["tg"]) != 1 || aws.ToString(by["tg"][0].ResourceARN) == aws.ToString(tg.TargetGroupArn) {
				return fmt.Errorf("no new target group yet")
			}
			_, ls, now := s.loadBalancer(s.gatewayKey("gw"))
			if len(ls) != 2 || !forwards(s.listener(ls, 443), now.TargetGroupArn) {
				return fmt.Errorf("listeners not back on the new target group")
			}
			if len(s.targets(now.TargetGroupArn)) != 2 {
				return fmt.Errorf("targets %v", s.targets(now.TargetGroupArn))
			}
			return nil
		})
	})

	t.Run("a deleted listener is created again", func(t *testing.T) {
		_, listeners, _ := s.loadBalancer(s.gatewayKey("gw"))
		_, err := s.elb.DeleteListener(s.ctx, &elbv2.DeleteListenerInput{ListenerArn: s.listener(listeners, 443).ListenerArn})
		must(t, err)
		repaired("the HTTPS listener", func() error {
			if _, ls, _ := s.loadBalancer(s.gatewayKey("gw")); len(ls) != 2 {
				return fmt.Errorf("%d listeners", len(ls))
			}
			return nil
		})
	})

	t.Run("a revoked node security group rule is put back", func(t *testing.T) {
		lb, _, tg := s.loadBalancer(s.gatewayKey("gw"))
		_, backend := s.albGroups(lb)
		_, err := s.ec2.RevokeSecurityGroupIngress(s.ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String(s.env.NodeSecurityGroupID),
			IpPermissions: groupPermission(backend, aws.ToInt32(tg.Port))})
		must(t, err)
		if got := s.inventory().NodeRules; len(got) != 1 {
			t.Fatalf("the rule was not revoked: %v", got)
		}
		repaired("the node rule", func() error {
			if got := s.inventory().NodeRules; len(got) != 2 {
				return fmt.Errorf("node rules %v", got)
			}
			return nil
		})
	})

	t.Run("an alias record pointed elsewhere is put back", func(t *testing.T) {
		lb, _, _ := s.loadBalancer(s.gatewayKey("gw"))
		_, err := r53.ChangeResourceRecordSets(s.ctx, &route53.ChangeResourceRecordSetsInput{HostedZoneId: aws.String(s.env.HostedZoneID),
			ChangeBatch: &r53types.ChangeBatch{Changes: []r53types.Change{{Action: r53types.ChangeActionUpsert, ResourceRecordSet: &r53types.ResourceRecordSet{
				Name: aws.String(articleHost), Type: r53types.RRTypeA,
				AliasTarget: &r53types.AliasTarget{DNSName: aws.String("elsewhere.example.net"), HostedZoneId: lb.CanonicalHostedZoneId}}}}}})
		must(t, err)
		repaired("the alias record", func() error {
			return aliasTo(s.records(s.env.HostedZoneID), articleHost+" A", aws.ToString(lb.DNSName), aws.ToString(lb.CanonicalHostedZoneId))
		})
	})

	t.Run("a deleted alias record is created again", func(t *testing.T) {
		lb, _, _ := s.loadBalancer(s.gatewayKey("gw"))
		rs := s.records(s.env.HostedZoneID)[articleHost+" A"]
		_, err := r53.ChangeResourceRecordSets(s.ctx, &route53.ChangeResourceRecordSetsInput{HostedZoneId: aws.String(s.env.HostedZoneID),
			ChangeBatch: &r53types.ChangeBatch{Changes: []r53types.Change{{Action: r53types.ChangeActionDelete, ResourceRecordSet: &rs}}}})
		must(t, err)
		repaired("the deleted alias record", func() error {
			return aliasTo(s.records(s.env.HostedZoneID), articleHost+" A", aws.ToString(lb.DNSName), aws.ToString(lb.CanonicalHostedZoneId))
		})
	})

	s.deleteGateway("gw")
	s.waitGone("gw", 60*time.Second)
	s.assertOnlyForeign(f)
}

func groupPermission(source string, port int32) []ec2types.IpPermission {
	return []ec2types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(port), ToPort: aws.Int32(port),
		UserIdGroupPairs: []ec2types.UserIdGroupPair{{GroupId: aws.String(source), Description: aws.String(tags.NodeRuleDescription)}}}}
}

func TestKillingTheOperatorAfterAnyWriteConvergesOnOneStackAndLeavesNothingBehind(t *testing.T) {
	s := newScenario(t, scenarioOptions{noManager: true})
	f := s.addForeign()
	svc := s.article("/healthz/ready")
	proxy := startProxy(t)
	kubeconfig := operatorKubeconfig(t, controlPlane.Env)

	// Each round: the N-th AWS write of the create (or the teardown) reaches AWS and the operator
	// is killed before it hears the answer; a new operator then takes over. Each round serves its
	// own host: the emulator refuses to create a record set again that was created and deleted
	// before (a fault of its change journal, not of Route53).
	round := func(phase string, n int, start func(), done func() bool) bool {
		t.Helper()
		crashing := s.startOperator(kubeconfig, proxy.URL(), "--sync-period", "10m")
		proxy.KillAfterWrite(n, crashing.kill)
		start()
		must(t, rig.Eventually(60*time.Second, 100*time.Millisecond, func() error {
			if proxy.Killed() || done() {
				return nil
			}
			return fmt.Errorf("%s round %d: neither killed nor done", phase, n)
		}))
		killed := proxy.Killed()
		proxy.KillAfterWrite(0, nil)
		crashing.stop()
		if killed {
			calls := proxy.Calls()
			var writes []string
			for _, c := range calls {
				if c.Write && !c.Throttled {
					writes = append(writes, c.Operation)
				}
			}
			t.Logf("%s round %d: killed after %s", phase, n, writes[len(writes)-1])
		}
		if !killed {
			t.Logf("%s: %d writes make the whole %s (no %dth write to crash after)", phase, n-1, phase, n)
		}
		return killed
	}

	for n := 1; ; n++ {
		host := fmt.Sprintf("create-%d.example.com", n)
		killed := round("create", n, func() {
			must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{host}, enabled)))
		}, func() bool { return s.programmed("gw", svc) })
		// A new operator finishes the create: exactly one stack, nothing leaked.
		clean := s.startOperator(kubeconfig, proxy.URL(), "--sync-period", "10m")
		s.waitConvergedFor("gw", host, svc, f)
		s.deleteGateway("gw")
		s.waitGone("gw", 60*time.Second)
		s.waitServiceType(svc, corev1.ServiceTypeLoadBalancer)
		s.assertOnlyForeign(f)
		clean.stop()
		if !killed {
			break
		}
		if n > 30 {
			t.Fatal("more than 30 writes for one create")
		}
	}

	for n := 1; ; n++ {
		// A converged gateway, then a teardown killed after its n-th write.
		host := fmt.Sprintf("teardown-%d.example.com", n)
		setup := s.startOperator(kubeconfig, proxy.URL(), "--sync-period", "10m")
		must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{host}, enabled)))
		s.waitConvergedFor("gw", host, svc, f)
		setup.stop()
		killed := round("teardown", n, func() { s.deleteGateway("gw") }, func() bool {
			var gw istionet.Gateway
			return apierrors.IsNotFound(s.k8s.Get(s.ctx, client.ObjectKey{Namespace: s.appNS, Name: "gw"}, &gw))
		})
		clean := s.startOperator(kubeconfig, proxy.URL(), "--sync-period", "10m")
		s.waitGone("gw", 60*time.Second)
		s.waitServiceType(svc, corev1.ServiceTypeLoadBalancer)
		s.assertOnlyForeign(f)
		clean.stop()
		if !killed {
			break
		}
		if n > 30 {
			t.Fatal("more than 30 writes for one teardown")
		}
	}
}

// programmed reports whether the gateway has its ALB and its Service is cut over.
func (s *scenario) programmed(name string, svc *corev1.Service) bool {
	var gw istionet.Gateway
	if err := s.k8s.Get(s.ctx, client.ObjectKey{Namespace: s.appNS, Name: name}, &gw); err != nil {
		return false
	}
	cur := &corev1.Service{}
	if err := s.k8s.Get(s.ctx, client.ObjectKeyFromObject(svc), cur); err != nil {
		return false
	}
	return gw.Annotations["istio-alb.io/load-balancer-dns"] != "" && cur.Spec.Type == corev1.ServiceTypeNodePort
}

func TestThirtyPercentThrottledCallsConvergeWithoutDuplicatesOrLeaks(t *testing.T) {
	proxy := startProxy(t)
	proxy.Throttle(0.3)
	s := newScenario(t, scenarioOptions{awsEndpoint: proxy.URL()})
	f := s.addForeign()
	svc := s.article("/healthz/ready")
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost}, enabled)))
	s.waitConverged("gw", svc, f)
	s.deleteGateway("gw")
	s.waitGone("gw", 90*time.Second)
	s.waitServiceType(svc, corev1.ServiceTypeLoadBalancer)
	s.assertOnlyForeign(f)
	calls := proxy.Calls()
	throttled := 0
	for _, c := range calls {
		if c.Throttled {
			throttled++
		}
	}
	t.Logf("create and teardown through 30%% throttling: %d calls, %d of them throttled", len(calls), throttled)
	if throttled == 0 {
		t.Fatal("no call was throttled")
	}
}

func TestAGatewayDeletedOneSecondAfterItsALBAppearsLeaksNothingDespiteATaggingLag(t *testing.T) {
	proxy := startProxy(t)
	proxy.HideFromTagging(30 * time.Second)
	s := newScenario(t, scenarioOptions{awsEndpoint: proxy.URL()})
	f := s.addForeign()
	svc := s.article("/healthz/ready")
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost}, enabled)))
	must(t, rig.Eventually(waitAWS, 50*time.Millisecond, func() error {
		if got := s.inventory().LoadBalancers; len(got) != len(f.before.LoadBalancers)+1 {
			return fmt.Errorf("no ALB yet")
		}
		return nil
	}))
	// The operator that created it goes (what it remembered goes with it), the Gateway is
	// deleted a second after the ALB appeared, and a new operator, for which the tagging API
	// lists none of the fresh resources, tears down.
	s.stopMgr()
	time.Sleep(time.Second)
	s.deleteGateway("gw")
	s.startManager(s.opts.syncPeriod)
	s.waitGone("gw", 60*time.Second)
	s.waitServiceType(svc, corev1.ServiceTypeLoadBalancer)
	s.assertOnlyForeign(f)
}

func TestDeletionProtectionHoldsTheTeardownUntilTheUserTurnsItOff(t *testing.T) {
	s := newScenario(t, scenarioOptions{userErrorRetry: time.Second})
	f := s.addForeign()
	svc := s.article("/healthz/ready")
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost},
		map[string]string{"istio-alb.io/enabled": "true", "istio-alb.io/load-balancer-attributes": "deletion_protection.enabled=true,idle_timeout.timeout_seconds=120"})))
	s.waitConverged("gw", svc, f)
	lb, _, _ := s.loadBalancer(s.gatewayKey("gw"))
	attrs := func() map[string]string {
		out, err := s.elb.DescribeLoadBalancerAttributes(s.ctx, &elbv2.DescribeLoadBalancerAttributesInput{LoadBalancerArn: lb.LoadBalancerArn})
		must(t, err)
		m := map[string]string{}
		for _, a := range out.Attributes {
			m[aws.ToString(a.Key)] = aws.ToString(a.Value)
		}
		return m
	}
	if a := attrs(); a["deletion_protection.enabled"] != "true" || a["idle_timeout.timeout_seconds"] != "120" {
		t.Fatalf("attributes %v", a)
	}

	t.Run("a key removed from the annotation returns to AWS's default", func(t *testing.T) {
		s.updateGateway("gw", func(gw *istionet.Gateway) {
			gw.Annotations["istio-alb.io/load-balancer-attributes"] = "deletion_protection.enabled=true"
		})
		must(t, rig.Eventually(waitAWS, 200*time.Millisecond, func() error {
			if a := attrs(); a["idle_timeout.timeout_seconds"] != "60" {
				return fmt.Errorf("idle timeout %q, want the default 60", a["idle_timeout.timeout_seconds"])
			}
			return nil
		}))
	})

	s.deleteGateway("gw")
	msg := s.event(s.appNS, "gw", controllers.ReasonDeletionProtected)
	if !strings.Contains(msg, "istio-alb.io/load-balancer-attributes") || !strings.Contains(msg, "deletion_protection.enabled") {
		t.Fatalf("DeletionProtected event %q does not name the annotation", msg)
	}
	if by := s.owned(s.gatewayKey("gw")); len(by["lb"]) != 1 {
		t.Fatalf("the protected ALB is gone: %v", by)
	}
	s.updateGateway("gw", func(gw *istionet.Gateway) {
		gw.Annotations["istio-alb.io/load-balancer-attributes"] = "deletion_protection.enabled=false"
	})
	s.waitGone("gw", 60*time.Second)
	s.assertOnlyForeign(f)
}

func TestARestartOfAConvergedOperatorMakesNoWrite(t *testing.T) {
	s := newScenario(t, scenarioOptions{})
	f := s.addForeign()
	svc := s.article("/healthz/ready")
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost}, enabled)))
	s.waitConverged("gw", svc, f)
	s.stopMgr()

	before := s.calls.Snapshot()
	n := reconciles()
	s.startManager(s.opts.syncPeriod)
	must(t, rig.Eventually(30*time.Second, 50*time.Millisecond, func() error {
		if reconciles() <= n {
			return fmt.Errorf("no reconcile yet")
		}
		return nil
	}))
	// ...and until the operator has stopped calling AWS (the first drift pass, the reconciles).
	last, quietSince := total(s.calls.Since(before)), time.Now()
	must(t, rig.Eventually(30*time.Second, 100*time.Millisecond, func() error {
		if now := total(s.calls.Since(before)); now != last {
			last, quietSince = now, time.Now()
		}
		if time.Since(quietSince) < 2*time.Second {
			return fmt.Errorf("AWS still being called")
		}
		return nil
	}))
	calls := s.calls.Since(before)
	if w := mutating(calls); len(w) != 0 {
		t.Fatalf("a restart of a converged operator wrote: %v", clients.Format(w))
	}
	t.Logf("reads of the first reconcile after a restart (%d): %s", total(calls), strings.Join(clients.Format(calls), " "))
	s.assertOneStack(f, articleHost)
}

func TestAStackWithItsOwnNodeRulesMovesToTheBackendGroupWithoutAGap(t *testing.T) {
	proxy := startProxy(t)
	s := newScenario(t, scenarioOptions{awsEndpoint: proxy.URL(), syncPeriod: 2 * time.Second})
	f := s.addForeign()
	svc := s.article("/healthz/ready")
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost}, enabled)))
	s.waitConverged("gw", svc, f)
	lb, _, tg := s.loadBalancer(s.gatewayKey("gw"))
	own, backend := s.albGroups(lb)

	// The stack as an earlier version left it: the node group opens the nodePorts to the ALB's
	// own group, and the ALB has no backend group.
	_, err := s.elb.SetSecurityGroups(s.ctx, &elbv2.SetSecurityGroupsInput{LoadBalancerArn: lb.LoadBalancerArn, SecurityGroups: []string{own}})
	must(t, err)
	health, _ := strconv.Atoi(aws.ToString(tg.HealthCheckPort))
	for _, port := range []int32{aws.ToInt32(tg.Port), int32(health)} {
		_, err = s.ec2.AuthorizeSecurityGroupIngress(s.ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(s.env.NodeSecurityGroupID),
			IpPermissions: groupPermission(own, port)})
		must(t, err)
	}
	mark := len(proxy.Calls())
	must(t, rig.Eventually(30*time.Second, 200*time.Millisecond, func() error {
		now, _, _ := s.loadBalancer(s.gatewayKey("gw"))
		if len(now.SecurityGroups) != 2 {
			return fmt.Errorf("the ALB has %v", now.SecurityGroups)
		}
		if rules := s.inventory().NodeRules; len(rules) != 2 || !strings.Contains(strings.Join(rules, ","), backend) {
			return fmt.Errorf("node rules %v", rules)
		}
		return nil
	}))
	// The ALB had the backend group (and the backend rules were there) before the ALB's own
	// rules went: no moment without a rule letting the ALB reach the nodes.
	var order []string
	for _, c := range proxy.Calls()[mark:] {
		if c.Write {
			order = append(order, c.Operation)
		}
	}
	attach, revoke := slices.Index(order, "SetSecurityGroups"), slices.Index(order, "RevokeSecurityGroupIngress")
	if attach < 0 || revoke < 0 || attach > revoke {
		t.Fatalf("writes of the migration %v: the backend group must be on the ALB before the ALB's own node rules go", order)
	}
	t.Logf("migration writes, in order: %v", order)
	s.deleteGateway("gw")
	s.waitGone("gw", 60*time.Second)
	s.assertOnlyForeign(f)
}
