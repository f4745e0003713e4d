package integration_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	wafv2types "github.com/aws/aws-sdk-go-v2/service/wafv2/types"
	istionet "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-alb-operator/istio-alb-operator/aws/clients"
	"github.com/istio-alb-operator/istio-alb-operator/test/fixtures"
	"github.com/istio-alb-operator/istio-alb-operator/test/rig"
)

const webACLAnnotation = "istio-alb.io/wafv2-acl-arn"

// webACL creates a REGIONAL web ACL in the emulator, as a user would, and returns its ARN.
func (s *scenario) webACL(name string) string {
	s.t.Helper()
	out, err := wafv2.NewFromConfig(s.awsCfg).CreateWebACL(s.ctx, &wafv2.CreateWebACLInput{
		Name: aws.String(name), Scope: wafv2types.ScopeRegional,
		DefaultAction:    &wafv2types.DefaultAction{Allow: &wafv2types.AllowAction{}},
		VisibilityConfig: &wafv2types.VisibilityConfig{MetricName: aws.String(name), CloudWatchMetricsEnabled: false, SampledRequestsEnabled: false},
	})
	must(s.t, err)
	return aws.ToString(out.Summary.ARN)
}

// webACLOf is what WAF says is associated with the load balancer ("" for none).
func (s *scenario) webACLOf(lbARN string) string {
	s.t.Helper()
	out, err := wafv2.NewFromConfig(s.awsCfg).GetWebACLForResource(s.ctx, &wafv2.GetWebACLForResourceInput{ResourceArn: aws.String(lbARN)})
	if clients.IsNotFound(err) {
		return ""
	}
	must(s.t, err)
	if out.WebACL == nil {
		return ""
	}
	return aws.ToString(out.WebACL.ARN)
}

// lbTag returns a tag of the load balancer ("" when it has none).
func (s *scenario) lbTag(lbARN, key string) string {
	s.t.Helper()
	out, err := s.elb.DescribeTags(s.ctx, &elbv2.DescribeTagsInput{ResourceArns: []string{lbARN}})
	must(s.t, err)
	for _, d := range out.TagDescriptions {
		for _, t := range d.Tags {
			if aws.ToString(t.Key) == key {
				return aws.ToString(t.Value)
			}
		}
	}
	return ""
}

// wafCalls are the WAFv2 calls among calls.
func wafCalls(calls map[clients.Call]int) map[clients.Call]int {
	out := map[clients.Call]int{}
	for c, n := range calls {
		if c.Service == wafv2.ServiceID {
			out[c] = n
		}
	}
	return out
}

// setAnnotations changes the Istio Gateway's annotations (an empty value removes one).
func (s *scenario) setAnnotations(name string, set map[string]string) {
	s.t.Helper()
	var gw istionet.Gateway
	must(s.t, s.k8s.Get(s.ctx, client.ObjectKey{Namespace: s.appNS, Name: name}, &gw))
	for k, v := range set {
		if v == "" {
			delete(gw.Annotations, k)
		} else {
			gw.Annotations[k] = v
		}
	}
	must(s.t, s.k8s.Update(s.ctx, &gw))
}

// replacedByInternal waits for the scheme change's new internal ALB to carry the articles's
// record in the private zone, checking at the first sight of it that it already has wantACL;
// then for the old ALB to be gone. It returns the new ALB.
func (s *scenario) replacedByInternal(key, oldARN, wantACL string) elbv2types.LoadBalancer {
	s.t.Helper()
	var newLB elbv2types.LoadBalancer
	must(s.t, rig.Eventually(waitAWS, 50*time.Millisecond, func() error {
		for _, r := range s.owned(key)["lb"] {
			arn := aws.ToString(r.ResourceARN)
			if arn == oldARN {
				continue
			}
			out, err := s.elb.DescribeLoadBalancers(s.ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{arn}})
			if err != nil || len(out.LoadBalancers) != 1 {
				return fmt.Errorf("new load balancer %s not described: %v", arn, err)
			}
			newLB = out.LoadBalancers[0]
		}
		if newLB.LoadBalancerArn == nil || newLB.Scheme != elbv2types.LoadBalancerSchemeEnumInternal {
			return fmt.Errorf("no internal ALB yet")
		}
		recs := s.records(s.env.PrivateHostedZoneID)
		if err := aliasTo(recs, articleHost+" A", aws.ToString(newLB.DNSName), aws.ToString(newLB.CanonicalHostedZoneId)); err != nil {
			return err
		}
		// The record has just moved to the new ALB: its web ACL must be there already.
		if got := s.webACLOf(aws.ToString(newLB.LoadBalancerArn)); got != wantACL {
			s.t.Fatalf("the records moved to the new ALB while its web ACL was %q, want %q", got, wantACL)
		}
		return nil
	}))
	must(s.t, rig.Eventually(waitAWS, 100*time.Millisecond, func() error {
		_, err := s.elb.DescribeLoadBalancers(s.ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{oldARN}})
		if !clients.IsNotFound(err) {
			return fmt.Errorf("the replaced ALB %s still exists (%v)", oldARN, err)
		}
		return nil
	}))
	return newLB
}

func TestAWebACLIsAssociatedKeptAcrossASchemeChangeAndDetachedBeforeTheALBIsDeleted(t *testing.T) {
	s := newScenario(t, scenarioOptions{})
	s.article("/healthz/ready")
	acl := s.webACL("edge-" + s.appNS)
	key := s.gatewayKey("gw")

	before := s.calls.Snapshot()
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost},
		map[string]string{"istio-alb.io/enabled": "true", webACLAnnotation: acl})))
	s.waitDNS("gw")
	create := s.calls.Since(before)
	t.Logf("AWS calls of the create (%d): %s", total(create), strings.Join(clients.Format(create), " "))
	lb, _, _ := s.loadBalancer(key)
	lbARN := aws.ToString(lb.LoadBalancerArn)
	if got := s.webACLOf(lbARN); got != acl {
		t.Fatalf("WAF says the ALB has web ACL %q, want %q", got, acl)
	}
	if got := s.lbTag(lbARN, webACLAnnotation); got != acl {
		t.Fatalf("the ALB's tag %s is %q, want the web ACL the operator associated", webACLAnnotation, got)
	}
	// A new ALB has no web ACL to read: one association, no read of the ALB's web ACL.
	if w := wafCalls(create); w[clients.Call{Service: wafv2.ServiceID, Operation: "AssociateWebACL"}] != 1 ||
		w[clients.Call{Service: wafv2.ServiceID, Operation: "GetWebACLForResource"}] != 0 {
		t.Fatalf("WAF calls of the create: %v, want one AssociateWebACL and no GetWebACLForResource", clients.Format(w))
	}

	s.assertIdleReconcile("gw")

	s.setAnnotations("gw", map[string]string{"istio-alb.io/scheme": "internal"})
	newLB := s.replacedByInternal(key, lbARN, acl)
	newARN := aws.ToString(newLB.LoadBalancerArn)
	if got := s.lbTag(newARN, webACLAnnotation); got != acl {
		t.Fatalf("the new ALB's tag %s is %q, want %q", webACLAnnotation, got, acl)
	}
	if got := s.webACLOf(lbARN); got != "" {
		t.Fatalf("the deleted ALB %s is still associated with %s", lbARN, got)
	}

	before = s.calls.Snapshot()
	s.deleteGateway("gw")
	must(t, rig.Eventually(waitAWS, 100*time.Millisecond, func() error {
		var gw istionet.Gateway
		if err := s.k8s.Get(s.ctx, client.ObjectKey{Namespace: s.appNS, Name: "gw"}, &gw); err == nil {
			return fmt.Errorf("gateway still there with finalizers %v", gw.Finalizers)
		}
		return nil
	}))
	t.Logf("AWS calls of the teardown: %s", strings.Join(clients.Format(s.calls.Since(before)), " "))
	if by := s.owned(key); len(by) != 0 {
		t.Fatalf("resources left for the deleted gateway: %v", by)
	}
	if got := s.webACLOf(newARN); got != "" {
		t.Fatalf("the deleted ALB %s is still associated with %s", newARN, got)
	}
}

func TestAWebACLAttachedByHandIsLeftAloneAndCarriedToTheALBThatReplacesItsALB(t *testing.T) {
	s := newScenario(t, scenarioOptions{})
	s.article("/healthz/ready")
	key := s.gatewayKey("gw")
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost}, enabled)))
	s.waitDNS("gw")
	lb, _, _ := s.loadBalancer(key)
	lbARN := aws.ToString(lb.LoadBalancerArn)
	hand := s.webACL("by-hand-" + s.appNS)
	_, err := wafv2.NewFromConfig(s.awsCfg).AssociateWebACL(s.ctx, &wafv2.AssociateWebACLInput{WebACLArn: aws.String(hand), ResourceArn: aws.String(lbARN)})
	must(t, err)

	// A change of the stack that has nothing to do with WAF: the hand-attached web ACL stays,
	// and no WAF call is made for a Gateway that names no web ACL.
	before, n := s.calls.Snapshot(), reconciles()
	s.setAnnotations("gw", map[string]string{"istio-alb.io/inbound-cidrs": "10.0.0.0/8"})
	must(t, rig.Eventually(waitAWS, 100*time.Millisecond, func() error {
		out, err := s.ec2.DescribeSecurityGroups(s.ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: lb.SecurityGroups[:1]})
		if err != nil {
			return err
		}
		var cidrs []string
		for _, p := range out.SecurityGroups[0].IpPermissions {
			for _, r := range p.IpRanges {
				cidrs = append(cidrs, aws.ToString(r.CidrIp))
			}
		}
		if slices.Contains(cidrs, "0.0.0.0/0") || !slices.Contains(cidrs, "10.0.0.0/8") {
			return fmt.Errorf("inbound CIDRs %v, want 10.0.0.0/8 only", cidrs)
		}
		if reconciles() <= n {
			return fmt.Errorf("the reconcile has not finished")
		}
		return nil
	}))
	if w := wafCalls(s.calls.Since(before)); len(w) != 0 {
		t.Fatalf("a Gateway without %s made WAF calls: %v", webACLAnnotation, clients.Format(w))
	}
	if got := s.webACLOf(lbARN); got != hand {
		t.Fatalf("the hand-attached web ACL was changed to %q", got)
	}

	s.setAnnotations("gw", map[string]string{"istio-alb.io/scheme": "internal"})
	newLB := s.replacedByInternal(key, lbARN, hand)
	newARN := aws.ToString(newLB.LoadBalancerArn)
	if got := s.lbTag(newARN, webACLAnnotation); got != "" {
		t.Fatalf("the carried web ACL is tagged as the operator's (%s=%q): removing nothing from the annotation would remove it", webACLAnnotation, got)
	}
	if got := s.webACLOf(lbARN); got != "" {
		t.Fatalf("the deleted ALB %s is still associated with %s", lbARN, got)
	}
	s.assertIdleReconcile("gw")
}

func TestChangingTheWebACLAnnotationReassociatesAndRemovingItDisassociates(t *testing.T) {
	s := newScenario(t, scenarioOptions{})
	s.article("/healthz/ready")
	// The emulator (moto 5.2) keeps a load balancer in the list of the web ACL it had when
	// another is associated, and reports the first web ACL created that lists it: the web ACL
	// changed to is created first, so that it reads as AWS answers (AWS replaces the association).
	second := s.webACL("second-" + s.appNS)
	first := s.webACL("first-" + s.appNS)
	for _, name := range []string{"changed", "removed"} {
		must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, name, s.selector, []string{name + ".example.com"},
			map[string]string{"istio-alb.io/enabled": "true", webACLAnnotation: first})))
	}
	arn := map[string]string{}
	for _, name := range []string{"changed", "removed"} {
		s.waitDNS(name)
		lb, _, _ := s.loadBalancer(s.gatewayKey(name))
		arn[name] = aws.ToString(lb.LoadBalancerArn)
		if got := s.webACLOf(arn[name]); got != first {
			t.Fatalf("%s: web ACL %q, want %q", name, got, first)
		}
	}

	before := s.calls.Snapshot()
	s.setAnnotations("changed", map[string]string{webACLAnnotation: second})
	s.setAnnotations("removed", map[string]string{webACLAnnotation: ""})
	must(t, rig.Eventually(waitAWS, 100*time.Millisecond, func() error {
		if got := s.webACLOf(arn["changed"]); got != second {
			return fmt.Errorf("changed: web ACL %q, want %q", got, second)
		}
		if got := s.lbTag(arn["changed"], webACLAnnotation); got != second {
			return fmt.Errorf("changed: tag %q, want %q", got, second)
		}
		if got := s.webACLOf(arn["removed"]); got != "" {
			return fmt.Errorf("removed: web ACL %q, want none", got)
		}
		if got := s.lbTag(arn["removed"], webACLAnnotation); got != "" {
			return fmt.Errorf("removed: tag %q left", got)
		}
		return nil
	}))
	t.Logf("AWS calls of the change and the removal: %s", strings.Join(clients.Format(s.calls.Since(before)), " "))
	for _, name := range []string{"changed", "removed"} {
		if by := s.owned(s.gatewayKey(name)); len(by["lb"]) != 1 || aws.ToString(by["lb"][0].ResourceARN) != arn[name] {
			t.Fatalf("%s: the ALB was replaced or duplicated: %v", name, by["lb"])
		}
		s.assertIdleReconcile(name)
	}
}

func TestAWebACLThatDoesNotExistOrIsOfAnotherRegionIsReportedAndNothingIsWritten(t *testing.T) {
	s := newScenario(t, scenarioOptions{userErrorRetry: time.Second})
	svc := s.article("/healthz/ready")
	must(t, s.k8s.Get(s.ctx, client.ObjectKeyFromObject(svc), svc))
	services := []*corev1.Service{svc}
	acl := s.webACL("edge-" + s.appNS)
	// This region's and account's ARN of a web ACL nobody created, and the same elsewhere.
	missing := acl[:strings.Index(acl, ":regional/")] + ":regional/webacl/missing/00000000-0000-0000-0000-000000000000"
	elsewhere := strings.Replace(missing, ":us-east-1:", ":eu-west-1:", 1)
	cloudfront := strings.Replace(missing, ":regional/", ":global/", 1)

	for _, c := range []struct {
		name, value string
		mentions    []string
	}{
		{"missing", missing, []string{webACLAnnotation, missing, "does not exist"}},
		{"elsewhere", elsewhere, []string{webACLAnnotation, elsewhere, "region eu-west-1"}},
		{"cloudfront", cloudfront, []string{webACLAnnotation, cloudfront, "CLOUDFRONT"}},
	} {
		before := s.calls.Snapshot()
		must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, c.name, s.selector, []string{c.name + ".example.com"},
			map[string]string{"istio-alb.io/enabled": "true", webACLAnnotation: c.value})))
		s.refused(c.name, "InvalidAnnotation", before, services, c.mentions...)
	}

	// Fixed to a web ACL that exists, the Gateway gets its ALB with it.
	s.setAnnotations("missing", map[string]string{webACLAnnotation: acl})
	s.waitDNS("missing")
	lb, _, _ := s.loadBalancer(s.gatewayKey("missing"))
	if got := s.webACLOf(aws.ToString(lb.LoadBalancerArn)); got != acl {
		t.Fatalf("web ACL %q, want %q", got, acl)
	}
}
