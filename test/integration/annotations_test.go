package integration_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	istionet "istio.io/client-go/pkg/apis/networking/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-alb-operator/istio-alb-operator/test/fixtures"
	"github.com/istio-alb-operator/istio-alb-operator/test/rig"
)

func TestAnnotationsShapeTheStackAndAChangeIsAppliedInPlace(t *testing.T) {
	s := newScenario(t, scenarioOptions{})
	s.article("/healthz/ready")
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost}, map[string]string{
		"istio-alb.io/enabled":                      "true",
		"istio-alb.io/inbound-cidrs":                "10.0.0.0/8,192.168.0.0/16",
		"istio-alb.io/tags":                         "team=web,env=prod",
		"istio-alb.io/load-balancer-attributes":     "idle_timeout.timeout_seconds=120",
		"istio-alb.io/subnets":                      "public-us-east-1a,public-us-east-1b",
		"istio-alb.io/healthcheck-interval-seconds": "10",
		"istio-alb.io/success-codes":                "200-299",
	})))
	s.waitDNS("gw")
	lb, _, tg := s.loadBalancer(s.gatewayKey("gw"))

	for kind, rs := range s.owned(s.gatewayKey("gw")) {
		for _, r := range rs {
			have := map[string]string{}
			for _, tag := range r.Tags {
				have[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
			}
			if have["team"] != "web" || have["env"] != "prod" {
				t.Errorf("%s %s lacks the user's tags: %v", kind, aws.ToString(r.ResourceARN), have)
			}
		}
	}
	if aws.ToInt32(tg.HealthCheckIntervalSeconds) != 10 || aws.ToString(tg.Matcher.HttpCode) != "200-299" {
		t.Fatalf("health check interval %d matcher %s", aws.ToInt32(tg.HealthCheckIntervalSeconds), aws.ToString(tg.Matcher.HttpCode))
	}
	if got := s.albRules(lb.SecurityGroups[0]); got != "tcp 443-443 10.0.0.0/8,tcp 443-443 192.168.0.0/16,tcp 80-80 10.0.0.0/8,tcp 80-80 192.168.0.0/16" {
		t.Fatalf("ALB security group rules %s", got)
	}
	if v := s.attribute(lb.LoadBalancerArn, "idle_timeout.timeout_seconds"); v != "120" {
		t.Fatalf("idle timeout %q, want 120", v)
	}

	var gw istionet.Gateway
	must(t, s.k8s.Get(s.ctx, client.ObjectKey{Namespace: s.appNS, Name: "gw"}, &gw))
	gw.Annotations["istio-alb.io/inbound-cidrs"] = "10.0.0.0/8"
	gw.Annotations["istio-alb.io/load-balancer-attributes"] = "idle_timeout.timeout_seconds=300"
	must(t, s.k8s.Update(s.ctx, &gw))
	must(t, rig.Eventually(waitAWS, 100*time.Millisecond, func() error {
		if got := s.albRules(lb.SecurityGroups[0]); got != "tcp 443-443 10.0.0.0/8,tcp 80-80 10.0.0.0/8" {
			return fmt.Errorf("ALB security group rules %s", got)
		}
		if v := s.attribute(lb.LoadBalancerArn, "idle_timeout.timeout_seconds"); v != "300" {
			return fmt.Errorf("idle timeout %q", v)
		}
		return nil
	}))
	now, _, _ := s.loadBalancer(s.gatewayKey("gw"))
	if aws.ToString(now.LoadBalancerArn) != aws.ToString(lb.LoadBalancerArn) {
		t.Fatal("a change of rules and attributes replaced the ALB")
	}
}

func TestNamedSubnetsThatDoNotExistAreReportedNamingTheAnnotation(t *testing.T) {
	s := newScenario(t, scenarioOptions{})
	s.article("/healthz/ready")
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost},
		map[string]string{"istio-alb.io/enabled": "true", "istio-alb.io/subnets": "public-us-east-1a,no-such-subnet"})))
	msg := s.event(s.appNS, "gw", "NetworkNotFound")
	if !strings.Contains(msg, "istio-alb.io/subnets") || !strings.Contains(msg, "no-such-subnet") {
		t.Fatalf("event %q does not name the annotation and the missing subnet", msg)
	}
	if by := s.owned(s.gatewayKey("gw")); len(by) != 0 {
		t.Fatalf("resources created despite missing subnets: %v", by)
	}
}

func (s *scenario) albRules(groupID string) string {
	s.t.Helper()
	out, err := s.ec2.DescribeSecurityGroups(s.ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{groupID}})
	must(s.t, err)
	return cidrRules(out.SecurityGroups[0].IpPermissions)
}

func (s *scenario) attribute(lbARN *string, key string) string {
	s.t.Helper()
	out, err := s.elb.DescribeLoadBalancerAttributes(s.ctx, &elbv2.DescribeLoadBalancerAttributesInput{LoadBalancerArn: lbARN})
	must(s.t, err)
	for _, a := range out.Attributes {
		if aws.ToString(a.Key) == key {
			return aws.ToString(a.Value)
		}
	}
	return ""
}
