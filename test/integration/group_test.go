package integration_test

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	taggingtypes "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi/types"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	istionet "istio.io/client-go/pkg/apis/networking/v1"

	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build"
	"github.com/istio-alb-operator/istio-alb-operator/aws/clients"
	"github.com/istio-alb-operator/istio-alb-operator/controllers"
	"github.com/istio-alb-operator/istio-alb-operator/test/fixtures"
	"github.com/istio-alb-operator/istio-alb-operator/test/rig"
)

const groupName = "shop"

// groupGateway creates an Istio Gateway of the scenario's group.
func (s *scenario) groupGateway(name string, order int, hosts ...string) {
	s.t.Helper()
	ann := map[string]string{"istio-alb.io/enabled": "true", "istio-alb.io/group": groupName, "istio-alb.io/group-order": strconv.Itoa(order)}
	must(s.t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, name, s.selector, hosts, ann)))
}

// groupGatewayWith is groupGateway with more annotations.
func (s *scenario) groupGatewayWith(name string, order int, more map[string]string, hosts ...string) {
	s.t.Helper()
	ann := map[string]string{"istio-alb.io/enabled": "true", "istio-alb.io/group": groupName, "istio-alb.io/group-order": strconv.Itoa(order)}
	maps.Copy(ann, more)
	must(s.t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, name, s.selector, hosts, ann)))
}

// groupRule is a listener rule of the group's ALB as the test reads it.
type groupRule struct {
	ARN, Priority, TargetGroup string
	Hosts                      []string
}

// groupALB returns the group's one ALB, its listeners by port and the HTTPS listener's rules by
// host (default rule left out).
func (s *scenario) groupALB() (elbv2types.LoadBalancer, map[int32]elbv2types.Listener, map[string]groupRule) {
	s.t.Helper()
	by := s.owned(build.GroupKey(s.appNS, groupName))
	if len(by["lb"]) != 1 || len(by["tg"]) != 0 || len(by["sg"]) != 1 {
		s.t.Fatalf("the group owns %d load balancers, %d target groups, %d security groups; want 1, 0, 1", len(by["lb"]), len(by["tg"]), len(by["sg"]))
	}
	lbs, err := s.elb.DescribeLoadBalancers(s.ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{aws.ToString(by["lb"][0].ResourceARN)}})
	must(s.t, err)
	ls, err := s.elb.DescribeListeners(s.ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: lbs.LoadBalancers[0].LoadBalancerArn})
	must(s.t, err)
	listeners := map[int32]elbv2types.Listener{}
	for _, l := range ls.Listeners {
		listeners[aws.ToInt32(l.Port)] = l
	}
	rules := map[string]groupRule{}
	if l, ok := listeners[443]; ok {
		out, err := s.elb.DescribeRules(s.ctx, &elbv2.DescribeRulesInput{ListenerArn: l.ListenerArn})
		must(s.t, err)
		for _, r := range out.Rules {
			if aws.ToBool(r.IsDefault) {
				continue
			}
			gr := groupRule{ARN: aws.ToString(r.RuleArn), Priority: aws.ToString(r.Priority)}
			if len(r.Actions) == 1 {
				gr.TargetGroup = aws.ToString(r.Actions[0].TargetGroupArn)
			}
			for _, c := range r.Conditions {
				if c.HostHeaderConfig != nil {
					gr.Hosts = append(gr.Hosts, c.HostHeaderConfig.Values...)
				}
			}
			for _, h := range gr.Hosts {
				rules[h] = gr
			}
		}
	}
	return lbs.LoadBalancers[0], listeners, rules
}

// memberTargetGroup returns the member's one target group ARN; it owns no load balancer.
func (s *scenario) memberTargetGroup(name string) string {
	s.t.Helper()
	by := s.owned(s.gatewayKey(name))
	if len(by["tg"]) != 1 || len(by["lb"]) != 0 || len(by["sg"]) != 0 {
		s.t.Fatalf("member %s owns %d target groups, %d load balancers, %d security groups; want 1, 0, 0", name, len(by["tg"]), len(by["lb"]), len(by["sg"]))
	}
	return aws.ToString(by["tg"][0].ResourceARN)
}

// waitGroupHosts waits until the group's HTTPS rules route exactly the hosts.
func (s *scenario) waitGroupHosts(hosts ...string) {
	s.t.Helper()
	slices.Sort(hosts)
	must(s.t, rig.Eventually(waitAWS, 200*time.Millisecond, func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("%v", r)
			}
		}()
		_, _, rules := s.groupALB()
		if got := slices.Sorted(maps.Keys(rules)); !slices.Equal(got, hosts) {
			return fmt.Errorf("rules route %v, want %v", got, hosts)
		}
		return nil
	}))
}

func TestThreeGatewaysInAGroupShareOneALBAndOneLeavingLeavesTheOthersTrafficAlone(t *testing.T) {
	s := newScenario(t, scenarioOptions{})
	s.article("/healthz/ready")
	f := s.addForeign()
	certs := map[string]string{}
	for _, h := range []string{"a.example.com", "b.example.com", "c.example.com"} {
		certs[h] = s.importCertificate(year, h)
	}

	// A Gateway with its own ALB, for the count of calls.
	before := s.calls.Snapshot()
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "solo", s.selector, []string{"solo.example.com"}, enabled)))
	s.waitDNS("solo")
	s.waitRecord("solo.example.com")
	solo := s.calls.Since(before)
	s.deleteGateway("solo")
	s.waitGone("solo", 60*time.Second)

	// The first member creates the group's ALB, the second joins it.
	before = s.calls.Snapshot()
	s.groupGateway("gw-a", 1, "a.example.com")
	dnsA := s.waitDNS("gw-a")
	s.waitRecord("a.example.com")
	first := s.calls.Since(before)
	before = s.calls.Snapshot()
	s.groupGateway("gw-b", 2, "b.example.com")
	if dnsB := s.waitDNS("gw-b"); dnsB != dnsA {
		t.Fatalf("gw-b published %s, gw-a %s: not one ALB", dnsB, dnsA)
	}
	s.waitRecord("b.example.com")
	join := s.calls.Since(before)
	t.Logf("AWS calls, a Gateway with its own ALB (%d, %d writes): %v", total(solo), total(mutating(solo)), clients.Format(solo))
	t.Logf("AWS calls, the first member of a group (%d, %d writes): %v", total(first), total(mutating(first)), clients.Format(first))
	t.Logf("AWS calls, a member joining the group (%d, %d writes): %v", total(join), total(mutating(join)), clients.Format(join))
	if total(mutating(join)) >= total(mutating(solo)) {
		t.Errorf("joining a group made %d writes, an ALB of its own %d", total(mutating(join)), total(mutating(solo)))
	}

	s.groupGateway("gw-c", 3, "c.example.com")
	if dnsC := s.waitDNS("gw-c"); dnsC != dnsA {
		t.Fatalf("gw-c published %s, gw-a %s: not one ALB", dnsC, dnsA)
	}
	s.waitRecord("c.example.com")
	s.waitGroupHosts("a.example.com", "b.example.com", "c.example.com")

	_, listeners, rules := s.groupALB()
	tgs := map[string]string{}
	for _, name := range []string{"gw-a", "gw-b", "gw-c"} {
		tgs[name] = s.memberTargetGroup(name)
	}
	for host, gw := range map[string]string{"a.example.com": "gw-a", "b.example.com": "gw-b", "c.example.com": "gw-c"} {
		if rules[host].TargetGroup != tgs[gw] {
			t.Fatalf("the rule for %s forwards to %s, want %s's target group %s", host, rules[host].TargetGroup, gw, tgs[gw])
		}
	}
	if len(listeners) != 2 {
		t.Fatalf("the group's ALB has %d listeners, want HTTP and HTTPS", len(listeners))
	}
	assertRedirect(t, listeners[80])
	def, sni := s.listenerCertificates(listeners[443])
	on := append([]string{def}, sni...)
	for h, arn := range certs {
		if !slices.Contains(on, arn) {
			t.Fatalf("the certificate of %s is not on the HTTPS listener (default %s, SNI %v)", h, def, sni)
		}
	}
	if d := listeners[443].DefaultActions; len(d) != 1 || d[0].Type != elbv2types.ActionTypeEnumFixedResponse {
		t.Fatalf("the HTTPS listener's default action is %+v, want a fixed 404", d)
	}
	inv := s.inventory()
	for _, h := range []string{"a.example.com", "b.example.com", "c.example.com"} {
		if !slices.Contains(inv.Records, h+" A") {
			t.Fatalf("no alias record for %s: %s", h, inv)
		}
	}
	if n := len(inv.LoadBalancers) - len(f.before.LoadBalancers); n != 1 {
		t.Fatalf("%d new load balancers, want the group's one: %s", n, inv)
	}
	targetsA, targetsC := s.targets(aws.String(tgs["gw-a"])), s.targets(aws.String(tgs["gw-c"]))
	if len(targetsA) == 0 {
		t.Fatal("gw-a's target group has no targets")
	}

	// The middle one goes: the others' rules, targets and records stay as they are.
	before = s.calls.Snapshot()
	s.deleteGateway("gw-b")
	s.waitGone("gw-b", 60*time.Second)
	s.waitGroupHosts("a.example.com", "c.example.com")
	_, listeners, after := s.groupALB()
	for _, h := range []string{"a.example.com", "c.example.com"} {
		if !slices.Equal(after[h].Hosts, rules[h].Hosts) || after[h].ARN != rules[h].ARN || after[h].Priority != rules[h].Priority || after[h].TargetGroup != rules[h].TargetGroup {
			t.Fatalf("the rule for %s changed when gw-b left: %+v, was %+v", h, after[h], rules[h])
		}
	}
	if got := s.targets(aws.String(tgs["gw-a"])); !slices.Equal(got, targetsA) {
		t.Fatalf("gw-a's targets changed: %v, were %v", got, targetsA)
	}
	if got := s.targets(aws.String(tgs["gw-c"])); !slices.Equal(got, targetsC) {
		t.Fatalf("gw-c's targets changed: %v, were %v", got, targetsC)
	}
	if by := s.owned(s.gatewayKey("gw-b")); len(by["tg"]) != 0 {
		t.Fatalf("gw-b's target group is left: %v", by)
	}
	def, sni = s.listenerCertificates(listeners[443])
	if on := append([]string{def}, sni...); slices.Contains(on, certs["b.example.com"]) || !slices.Contains(on, certs["a.example.com"]) || !slices.Contains(on, certs["c.example.com"]) {
		t.Fatalf("certificates after gw-b left: default %s SNI %v; want a's and c's, not b's", def, sni)
	}
	inv = s.inventory()
	if slices.Contains(inv.Records, "b.example.com A") || !slices.Contains(inv.Records, "a.example.com A") || !slices.Contains(inv.Records, "c.example.com A") {
		t.Fatalf("records after gw-b left: %v", inv.Records)
	}
	t.Logf("AWS calls, a member leaving: %v", clients.Format(s.calls.Since(before)))

	// All go: nothing is left.
	s.deleteGateway("gw-a")
	s.deleteGateway("gw-c")
	s.waitGone("gw-a", 60*time.Second)
	s.waitGone("gw-c", 60*time.Second)
	must(t, rig.Eventually(waitAWS, 200*time.Millisecond, func() error {
		if got := s.inventory(); got.String() != f.before.String() {
			return fmt.Errorf("the account holds\n  %s\nwant\n  %s", got, f.before)
		}
		return nil
	}))
}

// waitRecord waits until the hosted zone has the alias record of host.
func (s *scenario) waitRecord(host string) {
	s.t.Helper()
	must(s.t, rig.Eventually(waitAWS, 200*time.Millisecond, func() error {
		if inv := s.inventory(); !slices.Contains(inv.Records, host+" A") {
			return fmt.Errorf("no record for %s: %v", host, inv.Records)
		}
		return nil
	}))
}

func TestAGroupMemberOverTheRuleOrCertificateLimitGetsAWarningAndTheOthersAreUnaffected(t *testing.T) {
	s := newScenario(t, scenarioOptions{noManager: true})
	s.startManagerWith(controllers.Options{SyncPeriod: 10 * time.Minute, UserErrorRetry: time.Second,
		GroupLimits: build.GroupLimits{RulesPerListener: 3, CertificatesPerListener: 2}})
	s.article("/healthz/ready")
	certA := s.importCertificate(year, "a.example.com", "a2.example.com")
	// b's certificate also covers d1..d6, so that gw-d needs rules but no new certificate.
	certB := s.importCertificate(year, "b.example.com", "d1.example.com", "d2.example.com", "d3.example.com", "d4.example.com", "d5.example.com", "d6.example.com")
	certC := s.importCertificate(year, "c.example.com")
	_, listeners, rules, def, sni := s.groupOfTwo()

	// gw-c's certificate would be the third (the test's limit is 2): a Warning on gw-c only.
	s.groupGateway("gw-c", 3, "c.example.com")
	msg := s.event(s.appNS, "gw-c", build.ReasonGroupFull)
	if !strings.Contains(msg, "3 certificates") {
		t.Fatalf("GroupFull on gw-c says %q, want the certificate count", msg)
	}
	// gw-d's six hosts take two rules: four on the listener (the test's limit is 3).
	s.groupGateway("gw-d", 4, "d1.example.com", "d2.example.com", "d3.example.com", "d4.example.com", "d5.example.com", "d6.example.com")
	msg = s.event(s.appNS, "gw-d", build.ReasonGroupFull)
	if !strings.Contains(msg, "4 rules on listener 443") {
		t.Fatalf("GroupFull on gw-d says %q, want the rule count", msg)
	}
	// gw-e asks for other inbound CIDRs than the group's ALB has: reported, not guessed.
	s.groupGatewayWith("gw-e", 5, map[string]string{"istio-alb.io/inbound-cidrs": "10.0.0.0/8"}, "b.example.com")
	if msg := s.event(s.appNS, "gw-e", build.ReasonGroupConflict); !strings.Contains(msg, "istio-alb.io/inbound-cidrs (10.0.0.0/8, the group's 0.0.0.0/0)") {
		t.Fatalf("GroupConflict on gw-e says %q", msg)
	}
	for _, name := range []string{"gw-a", "gw-b"} {
		if e := s.eventsWithin(name, build.ReasonGroupFull); len(e) > 0 {
			t.Fatalf("%s got GroupFull: %v", name, e)
		}
	}
	for _, name := range []string{"gw-c", "gw-d", "gw-e"} {
		if by := s.owned(s.gatewayKey(name)); len(by["tg"]) != 0 || len(by["lb"]) != 0 {
			t.Fatalf("%s, which does not fit, has AWS resources: %v", name, by)
		}
	}
	_, listeners, after := s.groupALB()
	if !maps.EqualFunc(after, rules, func(a, b groupRule) bool { return a.ARN == b.ARN && a.Priority == b.Priority }) {
		t.Fatalf("the members' rules changed: %+v, were %+v", after, rules)
	}
	def2, sni2 := s.listenerCertificates(listeners[443])
	if def2 != def || !slices.Equal(sni2, sni) || slices.Contains(append(sni2, def2), certC) || !slices.Contains(append(sni2, def2), certA) || !slices.Contains(append(sni2, def2), certB) {
		t.Fatalf("listener certificates changed: default %s SNI %v, were %s %v", def2, sni2, def, sni)
	}
	s.assertIdleReconcile("gw-a")

	// gw-b, which fits, now asks for one certificate too many (c.example.com needs certC): a
	// Warning on gw-b, which keeps what it has in AWS — its certificate on the HTTPS listener
	// and its rule — also through another member's apply (gw-a gets a host that certA covers).
	s.updateGateway("gw-b", func(gw *istionet.Gateway) {
		gw.Spec.Servers[0].Hosts = append(gw.Spec.Servers[0].Hosts, "c.example.com")
	})
	if msg := s.event(s.appNS, "gw-b", build.ReasonGroupFull); !strings.Contains(msg, "3 certificates") {
		t.Fatalf("GroupFull on gw-b says %q, want the certificate count", msg)
	}
	s.updateGateway("gw-a", func(gw *istionet.Gateway) {
		gw.Spec.Servers[0].Hosts = append(gw.Spec.Servers[0].Hosts, "a2.example.com")
	})
	s.waitGroupHosts("a.example.com", "a2.example.com", "b.example.com")
	_, listeners, after = s.groupALB()
	if after["b.example.com"].ARN != rules["b.example.com"].ARN || after["b.example.com"].TargetGroup != rules["b.example.com"].TargetGroup {
		t.Fatalf("gw-b's rule changed after gw-a's apply: %+v, was %+v", after["b.example.com"], rules["b.example.com"])
	}
	def3, sni3 := s.listenerCertificates(listeners[443])
	if def3 != def || !slices.Equal(sni3, sni) {
		t.Fatalf("listener certificates changed after gw-a's apply while gw-b does not fit: default %s SNI %v, were %s %v", def3, sni3, def, sni)
	}
	if by := s.owned(s.gatewayKey("gw-b")); len(by["tg"]) != 1 {
		t.Fatalf("gw-b, which does not fit any more, lost its target group: %v", by)
	}
	for _, name := range []string{"gw-c", "gw-d"} {
		if by := s.owned(s.gatewayKey(name)); len(by["tg"]) != 0 || len(by["lb"]) != 0 {
			t.Fatalf("%s, which does not fit, has AWS resources: %v", name, by)
		}
	}
}

// eventsWithin returns the messages of the object's Events with the reason, now.
func (s *scenario) eventsWithin(name, reason string) []string {
	s.t.Helper()
	var out []string
	for _, e := range strings.Split(s.eventSummary(name), " | ") {
		if strings.HasPrefix(e, reason+": ") {
			out = append(out, e)
		}
	}
	return out
}

func TestAnIstioGatewayAndAGatewayAPIGatewayInOneGroupShareOneALB(t *testing.T) {
	s := newScenario(t, scenarioOptions{istiod: true})
	s.article("/healthz/ready")
	before := s.inventory()
	s.groupGateway("istio-gw", 1, "a.example.com")
	must(t, s.k8s.Create(s.ctx, fixtures.GatewayAPIGateway(s.appNS, "api-gw",
		map[string]string{"istio-alb.io/enabled": "true", "istio-alb.io/group": groupName, "istio-alb.io/group-order": "2"},
		fixtures.HTTPListener("http", 80, "api.example.com", gwapiv1.NamespacesFromSame))))
	dns := s.waitDNS("istio-gw")
	if got := s.waitAPIGateway(s.appNS, "api-gw").Annotations["istio-alb.io/load-balancer-dns"]; got != dns {
		t.Fatalf("the Gateway API Gateway published %s, the Istio Gateway %s: not one ALB", got, dns)
	}
	s.waitGroupHosts("a.example.com", "api.example.com")
	_, _, rules := s.groupALB()
	istioTG := s.memberTargetGroup("istio-gw")
	by := s.owned(apiKey(s.appNS, "api-gw"))
	if len(by["tg"]) != 1 || len(by["lb"]) != 0 {
		t.Fatalf("the Gateway API member owns %v", by)
	}
	if rules["a.example.com"].TargetGroup != istioTG || rules["api.example.com"].TargetGroup != aws.ToString(by["tg"][0].ResourceARN) {
		t.Fatalf("rules %+v do not forward each kind's hosts to its own target group", rules)
	}
	s.deleteGateway("istio-gw")
	var gw gwapiv1.Gateway
	must(t, s.k8s.Get(s.ctx, client.ObjectKey{Namespace: s.appNS, Name: "api-gw"}, &gw))
	must(t, s.k8s.Delete(s.ctx, &gw))
	must(t, rig.Eventually(waitAWS, 200*time.Millisecond, func() error {
		if got := s.inventory(); got.String() != before.String() {
			return fmt.Errorf("the account holds\n  %s\nwant\n  %s", got, before)
		}
		return nil
	}))
}

func TestAGatewayWithItsOwnALBJoiningAGroupMovesItsRecordsAndItsOwnALBGoes(t *testing.T) {
	s := newScenario(t, scenarioOptions{})
	s.article("/healthz/ready")
	before := s.inventory()
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "solo", s.selector, []string{"j.example.com"}, enabled)))
	own := s.waitDNS("solo")
	s.waitRecord("j.example.com")
	tg := s.memberTargetGroupOrALB("solo")
	s.groupGateway("gw-a", 1, "a.example.com")
	group := s.waitDNS("gw-a")
	s.updateGateway("solo", func(gw *istionet.Gateway) {
		gw.Annotations["istio-alb.io/group"] = groupName
		gw.Annotations["istio-alb.io/group-order"] = "2"
	})
	s.waitGroupHosts("a.example.com", "j.example.com")
	must(t, rig.Eventually(waitAWS, 200*time.Millisecond, func() error {
		if by := s.owned(s.gatewayKey("solo")); len(by["lb"]) != 0 || len(by["sg"]) != 0 {
			return fmt.Errorf("solo still owns %d load balancers, %d security groups", len(by["lb"]), len(by["sg"]))
		}
		return nil
	}))
	if got := s.waitDNSNot("solo", own); got != group {
		t.Fatalf("solo publishes %s, want the group's ALB %s", got, group)
	}
	if s.memberTargetGroup("solo") != tg {
		t.Fatal("solo's target group was replaced: it is kept when the Gateway joins")
	}
	inv := s.inventory()
	if n := len(inv.LoadBalancers) - len(before.LoadBalancers); n != 1 || !slices.Contains(inv.Records, "j.example.com A") {
		t.Fatalf("want the group's ALB only and j's record: %s", inv)
	}
	s.deleteGateway("solo")
	s.deleteGateway("gw-a")
	s.waitGone("solo", 60*time.Second)
	s.waitGone("gw-a", 60*time.Second)
	must(t, rig.Eventually(waitAWS, 200*time.Millisecond, func() error {
		if got := s.inventory(); got.String() != before.String() {
			return fmt.Errorf("the account holds\n  %s\nwant\n  %s", got, before)
		}
		return nil
	}))
}

// memberTargetGroupOrALB returns the target group of a Gateway with an ALB of its own.
func (s *scenario) memberTargetGroupOrALB(name string) string {
	s.t.Helper()
	_, _, tg := s.loadBalancer(s.gatewayKey(name))
	return aws.ToString(tg.TargetGroupArn)
}

// waitDNSNot waits until the Gateway publishes a load balancer other than old.
func (s *scenario) waitDNSNot(name, old string) string {
	s.t.Helper()
	var dns string
	must(s.t, rig.Eventually(waitAWS, 100*time.Millisecond, func() error {
		var gw istionet.Gateway
		if err := s.k8s.Get(s.ctx, client.ObjectKey{Namespace: s.appNS, Name: name}, &gw); err != nil {
			return err
		}
		if dns = gw.Annotations["istio-alb.io/load-balancer-dns"]; dns == old {
			return fmt.Errorf("still %s", old)
		}
		return nil
	}))
	return dns
}

func TestAGatewayLeavingItsGroupGetsItsOwnALBAndTheLastOneTakesTheGroupsALBWithIt(t *testing.T) {
	s := newScenario(t, scenarioOptions{})
	s.article("/healthz/ready")
	before := s.inventory()
	s.groupGateway("gw-a", 1, "a.example.com")
	s.groupGateway("gw-b", 2, "b.example.com")
	group := s.waitDNS("gw-a")
	s.waitDNS("gw-b")
	s.waitGroupHosts("a.example.com", "b.example.com")
	_, _, rules := s.groupALB()
	leave := func(gw *istionet.Gateway) {
		delete(gw.Annotations, "istio-alb.io/group")
		delete(gw.Annotations, "istio-alb.io/group-order")
	}
	s.updateGateway("gw-b", leave)
	if got := s.waitDNSNot("gw-b", group); got == group {
		t.Fatal("gw-b still publishes the group's ALB")
	}
	s.waitGroupHosts("a.example.com")
	if _, _, after := s.groupALB(); after["a.example.com"].ARN != rules["a.example.com"].ARN {
		t.Fatal("gw-a's rule changed when gw-b left")
	}
	s.loadBalancer(s.gatewayKey("gw-b")) // one ALB and one target group of its own
	s.updateGateway("gw-a", leave)
	s.waitDNSNot("gw-a", group)
	s.waitGroupGone(before, 2)
}

// groupRuleTargets returns the target groups the non-default rules of every listener of the
// group's ALB forward to, one entry a rule.
func (s *scenario) groupRuleTargets() []string {
	s.t.Helper()
	_, listeners, _ := s.groupALB()
	var out []string
	for _, l := range listeners {
		rules, err := s.elb.DescribeRules(s.ctx, &elbv2.DescribeRulesInput{ListenerArn: l.ListenerArn})
		must(s.t, err)
		for _, r := range rules.Rules {
			if !aws.ToBool(r.IsDefault) && len(r.Actions) == 1 {
				out = append(out, aws.ToString(r.Actions[0].TargetGroupArn))
			}
		}
	}
	slices.Sort(out)
	return out
}

func TestGatewaysLeavingTheirGroupWhileTheOperatorIsDownLeaveNoRulesAndNoGroupALB(t *testing.T) {
	proxy := startProxy(t)
	s := newScenario(t, scenarioOptions{awsEndpoint: proxy.URL()})
	s.article("/healthz/ready")
	before := s.inventory()
	s.groupGateway("gw-a", 1, "a.example.com")
	s.groupGateway("gw-b", 2, "b.example.com")
	s.groupGateway("gw-c", 3, "c.example.com")
	group := s.waitDNS("gw-a")
	s.waitDNS("gw-b")
	s.waitDNS("gw-c")
	s.waitGroupHosts("a.example.com", "b.example.com", "c.example.com")
	_, _, rules := s.groupALB()
	tgB := s.memberTargetGroup("gw-b")
	targets := s.groupRuleTargets()
	if !slices.Contains(targets, tgB) {
		t.Fatalf("no rule forwards to gw-b's target group %s: %v", tgB, targets)
	}

	// The operator is down while gw-b leaves the group: nothing remembers it was a member.
	s.stopMgr()
	s.updateGateway("gw-b", func(gw *istionet.Gateway) {
		delete(gw.Annotations, "istio-alb.io/group")
		delete(gw.Annotations, "istio-alb.io/group-order")
	})
	_, listeners, _ := s.groupALB()
	gaps := s.sampleRoutes("b.example.com", group, aws.ToString(listeners[443].ListenerArn))
	// gw-b's records cannot move for a while (Route53 refuses them): the other members' applies
	// after the start must leave its rule, which its hosts' traffic still needs.
	proxy.Refuse("ChangeResourceRecordSets", "b.example.com")
	from := len(proxy.Calls())
	s.startManager(s.opts.syncPeriod)
	must(t, rig.Eventually(waitAWS, 200*time.Millisecond, func() error {
		creates, refused := 0, 0
		for _, c := range proxy.Calls()[from:] {
			creates += map[bool]int{true: 1}[c.Operation == "CreateLoadBalancer"]
			refused += map[bool]int{true: 1}[c.Operation == "ChangeResourceRecordSets" && c.Throttled]
		}
		if creates == 0 || refused < 2 {
			return fmt.Errorf("gw-b's own ALB (%d creates) and its refused record moves (%d) not seen yet", creates, refused)
		}
		return nil
	}))
	s.settledWrites(s.calls.Snapshot()) // gw-a's and gw-c's applies after the start are done
	proxy.Refuse("", "")
	if got := s.waitDNSNot("gw-b", group); got == group {
		t.Fatal("gw-b still publishes the group's ALB")
	}
	s.loadBalancer(s.gatewayKey("gw-b")) // one ALB and one target group of its own
	s.waitGroupHosts("a.example.com", "c.example.com")
	must(t, rig.Eventually(waitAWS, 200*time.Millisecond, func() error {
		if got := s.groupRuleTargets(); slices.Contains(got, tgB) || len(got) != len(targets)-len(slices.DeleteFunc(slices.Clone(targets), func(a string) bool { return a != tgB })) {
			return fmt.Errorf("the group's rules forward to %v; gw-b's target group is %s, the rules were %v", got, tgB, targets)
		}
		return nil
	}))
	_, _, after := s.groupALB()
	for _, h := range []string{"a.example.com", "c.example.com"} {
		if after[h].ARN != rules[h].ARN || after[h].Priority != rules[h].Priority || after[h].TargetGroup != rules[h].TargetGroup {
			t.Fatalf("the rule of %s changed: %+v, was %+v", h, after[h], rules[h])
		}
	}
	if samples, bad := gaps(); len(bad) > 0 || samples == 0 {
		t.Fatalf("in %d samples while gw-b moved, its alias pointed at the group's ALB without a rule for its host %d times: %v", samples, len(bad), bad)
	} else {
		t.Logf("gw-b's move: %d samples of its alias and the group's rules, no gap", samples)
	}

	// The operator is down while the last two leave. gw-c's records cannot move for a while: gw-a
	// leaving first must not take the group's ALB, which gw-c's hosts still use. Once gw-c has
	// moved too, the ALB goes; each keeps its target group on an ALB of its own.
	s.stopMgr()
	for _, name := range []string{"gw-a", "gw-c"} {
		s.updateGateway(name, func(gw *istionet.Gateway) {
			delete(gw.Annotations, "istio-alb.io/group")
			delete(gw.Annotations, "istio-alb.io/group-order")
		})
	}
	_, listeners, _ = s.groupALB()
	gapsC := s.sampleRoutes("c.example.com", group, aws.ToString(listeners[443].ListenerArn))
	proxy.Refuse("ChangeResourceRecordSets", "c.example.com")
	s.startManager(s.opts.syncPeriod)
	if got := s.waitDNSNot("gw-a", group); got == group {
		t.Fatal("gw-a still publishes the group's ALB")
	}
	s.settledWrites(s.calls.Snapshot()) // gw-a has left; gw-c cannot move yet
	proxy.Refuse("", "")
	if got := s.waitDNSNot("gw-c", group); got == group {
		t.Fatal("gw-c still publishes the group's ALB")
	}
	s.waitGroupGone(before, 3)
	if samples, bad := gapsC(); len(bad) > 0 || samples == 0 {
		t.Fatalf("in %d samples while gw-c moved, its alias pointed at the group's ALB without a rule for its host %d times: %v", samples, len(bad), bad)
	} else {
		t.Logf("gw-c's move: %d samples of its alias and the group's rules, no gap", samples)
	}
	for _, name := range []string{"gw-a", "gw-b", "gw-c"} {
		s.loadBalancer(s.gatewayKey(name)) // one ALB and one target group each
	}

	// All go: nothing is left.
	for _, name := range []string{"gw-a", "gw-b", "gw-c"} {
		s.deleteGateway(name)
	}
	for _, name := range []string{"gw-a", "gw-b", "gw-c"} {
		s.waitGone(name, 60*time.Second)
	}
	must(t, rig.Eventually(waitAWS, 200*time.Millisecond, func() error {
		if got := s.inventory(); got.String() != before.String() {
			return fmt.Errorf("the account holds\n  %s\nwant\n  %s", got, before)
		}
		return nil
	}))
}

func TestTheDriftPassRepairsAGroupsListenerDeletedOutOfBand(t *testing.T) {
	s := newScenario(t, scenarioOptions{syncPeriod: 2 * time.Second})
	s.article("/healthz/ready")
	s.importCertificate(year, "a.example.com") // found from the hosts
	s.importCertificate(year, "b.example.com")
	lb, listeners, rules, def, sni := s.groupOfTwo()

	// Someone deletes the HTTPS listener, and with it both members' rules.
	_, err := s.elb.DeleteListener(s.ctx, &elbv2.DeleteListenerInput{ListenerArn: listeners[443].ListenerArn})
	must(t, err)
	s.waitGroupHosts("a.example.com", "b.example.com")
	lb2, listeners2, rules2 := s.groupALB()
	if aws.ToString(lb2.LoadBalancerArn) != aws.ToString(lb.LoadBalancerArn) {
		t.Fatalf("the group's ALB was replaced: %s, was %s", aws.ToString(lb2.LoadBalancerArn), aws.ToString(lb.LoadBalancerArn))
	}
	if aws.ToString(listeners2[443].ListenerArn) == aws.ToString(listeners[443].ListenerArn) {
		t.Fatal("the listener ARN is the deleted one")
	}
	for _, h := range []string{"a.example.com", "b.example.com"} {
		if rules2[h].TargetGroup != rules[h].TargetGroup {
			t.Fatalf("the rule of %s forwards to %s, was %s", h, rules2[h].TargetGroup, rules[h].TargetGroup)
		}
	}
	if def2, sni2 := s.listenerCertificates(listeners2[443]); def2 != def || !slices.Equal(sni2, sni) {
		t.Fatalf("listener certificates: default %s SNI %v, were %s %v", def2, sni2, def, sni)
	}
	if got := len(listeners2); got != 2 {
		t.Fatalf("the group's ALB has %d listeners, want 2", got)
	}
}

// arnsByKind prints what s.owned returned: the ARNs by kind.
func arnsByKind(by map[string][]taggingtypes.ResourceTagMapping) string {
	var out []string
	for _, kind := range slices.Sorted(maps.Keys(by)) {
		for _, r := range by[kind] {
			out = append(out, kind+" "+aws.ToString(r.ResourceARN))
		}
	}
	return strings.Join(out, ", ")
}

// dryRunThenReal creates a dry-run member of the group, checks its plan wrote nothing, builds it
// for real and checks the real run's writes are the plan's. It returns the plan.
func (s *scenario) dryRunThenReal(name string, order int, hosts ...string) []plannedChange {
	s.t.Helper()
	s.settledWrites(s.calls.Snapshot())
	before := s.calls.Snapshot()
	s.groupGatewayWith(name, order, map[string]string{"istio-alb.io/dry-run": "true"}, hosts...)
	text := s.waitPlan(name, "")
	s.t.Logf("plan of %s:\n%s", name, text)
	if w := mutating(s.calls.Since(before)); len(w) > 0 {
		s.t.Fatalf("the dry run of %s wrote to AWS: %s", name, formatCalls(w))
	}
	plan := parsePlan(s.t, text)
	planned := awsCalls(plan)
	real := s.calls.Snapshot()
	setAnnotations(s, name, map[string]string{"istio-alb.io/dry-run": ""})
	s.waitDNS(name)
	if made := s.settledWrites(real); !maps.Equal(made, planned) {
		s.t.Fatalf("the real run of %s wrote\n%s\nthe plan said\n%s", name, formatCalls(made), formatCalls(planned))
	}
	return plan
}

func TestADryRunOfAGroupMemberListsExactlyTheWritesTheRealRunMakesForANewGroupAndForAJoiner(t *testing.T) {
	s := newScenario(t, scenarioOptions{})
	s.article("/healthz/ready")
	s.importCertificate(year, "a.example.com")
	s.importCertificate(year, "b.example.com")

	// The first member plans the group's ALB, listeners, its rule and target group.
	first := s.dryRunThenReal("gw-a", 1, "a.example.com")
	s.waitGroupHosts("a.example.com")
	ops := func(plan []plannedChange) map[string]int {
		out := map[string]int{}
		for _, c := range plan {
			out[c.operation]++
		}
		return out
	}
	if o := ops(first); o["CreateLoadBalancer"] != 1 || o["CreateListener"] != 2 || o["CreateRule"] != 1 || o["CreateTargetGroup"] != 1 {
		t.Fatalf("the first member's plan: %v", o)
	}

	// A joiner plans only its own part and the group's new certificate; while it is a dry run,
	// the first member's reconcile leaves the group's ALB as it is.
	_, listeners, _ := s.groupALB()
	def, sni := s.listenerCertificates(listeners[443])
	joiner := s.dryRunThenReal("gw-b", 2, "b.example.com")
	if o := ops(joiner); o["CreateLoadBalancer"] != 0 || o["CreateListener"] != 0 || o["CreateRule"] != 1 || o["AddListenerCertificates"] != 1 || o["CreateTargetGroup"] != 1 {
		t.Fatalf("the joiner's plan: %v", o)
	}
	s.waitGroupHosts("a.example.com", "b.example.com")
	def, sni = s.listenerCertificates(listeners[443])
	if len(sni) != 1 {
		t.Fatalf("listener certificates: default %s SNI %v, want one SNI", def, sni)
	}

	// A built member turned dry run plans no change; meanwhile another member's apply (a new
	// group order) keeps its certificate and rule: it is not planned for real.
	_, _, rules := s.groupALB()
	setAnnotations(s, "gw-a", map[string]string{"istio-alb.io/dry-run": "true"})
	if text := s.waitPlan("gw-a", ""); !strings.HasPrefix(text, "0 changes") {
		t.Fatalf("the dry run of the built gw-a plans changes:\n%s", text)
	}
	before := s.calls.Snapshot()
	setAnnotations(s, "gw-b", map[string]string{"istio-alb.io/group-order": "3"})
	must(t, rig.Eventually(waitAWS, 200*time.Millisecond, func() error {
		if s.calls.Since(before)[clients.Call{Service: "Elastic Load Balancing v2", Operation: "DescribeRules"}] == 0 {
			return fmt.Errorf("gw-b has not been applied again")
		}
		return nil
	}))
	s.settledWrites(before)
	_, _, after := s.groupALB()
	if a, r := after["a.example.com"], rules["a.example.com"]; a.ARN != r.ARN || a.Priority != r.Priority || a.TargetGroup != r.TargetGroup {
		t.Fatalf("gw-a's rule changed while it is a dry run: %+v, was %+v", after["a.example.com"], rules["a.example.com"])
	}
	if def2, sni2 := s.listenerCertificates(listeners[443]); def2 != def || !slices.Equal(sni2, sni) {
		t.Fatalf("listener certificates changed while gw-a is a dry run: default %s SNI %v, were %s %v", def2, sni2, def, sni)
	}
}

// sampleRoutes reads, every 100 ms until the returned function is called (at most 60 s), where
// the host's alias points and whether the group's HTTPS listener routes the host; the function
// returns the number of samples and those in which the alias pointed at the group's ALB (groupDNS)
// while the listener had no rule for the host: a gap in the host's traffic.
func (s *scenario) sampleRoutes(host, groupDNS, listenerARN string) func() (int, []string) {
	r53 := route53.NewFromConfig(s.awsCfg)
	stop, done := make(chan struct{}), make(chan struct{})
	var samples int
	var bad []string
	go func() {
		defer close(done)
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			select {
			case <-stop:
				return
			default:
			}
			out, err := r53.ListResourceRecordSets(s.ctx, &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(s.env.HostedZoneID),
				StartRecordName: aws.String(host), StartRecordType: r53types.RRTypeA, MaxItems: aws.Int32(1)})
			if err != nil || len(out.ResourceRecordSets) == 0 || out.ResourceRecordSets[0].AliasTarget == nil ||
				strings.TrimSuffix(aws.ToString(out.ResourceRecordSets[0].Name), ".") != host {
				continue
			}
			alias := strings.ToLower(aws.ToString(out.ResourceRecordSets[0].AliasTarget.DNSName))
			if !strings.Contains(alias, strings.ToLower(groupDNS)) {
				samples++
				continue
			}
			rules, err := s.elb.DescribeRules(s.ctx, &elbv2.DescribeRulesInput{ListenerArn: aws.String(listenerARN)})
			if err != nil {
				bad = append(bad, "DescribeRules: "+err.Error())
				continue
			}
			samples++
			routed := false
			for _, r := range rules.Rules {
				for _, c := range r.Conditions {
					routed = routed || (c.HostHeaderConfig != nil && slices.Contains(c.HostHeaderConfig.Values, host))
				}
			}
			if !routed {
				bad = append(bad, time.Now().Format("15:04:05.000"))
			}
		}
	}()
	return func() (int, []string) {
		close(stop)
		<-done
		return samples, bad
	}
}

// waitGroupGone waits until the group owns nothing and the account holds n more ALBs than
// before: the former members' own.
func (s *scenario) waitGroupGone(before inventory, n int) {
	s.t.Helper()
	must(s.t, rig.Eventually(waitAWS, 200*time.Millisecond, func() error {
		if by := s.owned(build.GroupKey(s.appNS, groupName)); len(by) != 0 {
			return fmt.Errorf("the group still owns %s", arnsByKind(by))
		}
		if inv := s.inventory(); len(inv.LoadBalancers)-len(before.LoadBalancers) != n {
			return fmt.Errorf("want %d ALBs of the former members' own: %s", n, inv)
		}
		return nil
	}))
}

// groupOfTwo creates gw-a and gw-b (a.example.com, b.example.com) in the group and waits until its
// ALB routes both; it returns the ALB, its listeners and rules, and the HTTPS listener's default
// and SNI certificates.
func (s *scenario) groupOfTwo() (elbv2types.LoadBalancer, map[int32]elbv2types.Listener, map[string]groupRule, string, []string) {
	s.t.Helper()
	s.groupGateway("gw-a", 1, "a.example.com")
	s.groupGateway("gw-b", 2, "b.example.com")
	s.waitDNS("gw-a")
	s.waitDNS("gw-b")
	s.waitGroupHosts("a.example.com", "b.example.com")
	lb, listeners, rules := s.groupALB()
	def, sni := s.listenerCertificates(listeners[443])
	return lb, listeners, rules, def, sni
}
