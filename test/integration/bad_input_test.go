package integration_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	istionet "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-alb-operator/istio-alb-operator/aws/clients"
	"github.com/istio-alb-operator/istio-alb-operator/aws/model"
	"github.com/istio-alb-operator/istio-alb-operator/aws/tags"
	"github.com/istio-alb-operator/istio-alb-operator/test/fixtures"
)

func TestBadInputGetsAnEventNamingTheProblemAndCreatesNothingInAWS(t *testing.T) {
	cases := []struct {
		sentence    string
		annotations map[string]string
		selector    func(s *scenario) map[string]string
		service     func(*corev1.Service)
		reason      string
		mentions    []string
	}{
		{
			sentence:    "an unknown scheme is rejected naming the annotation and the value",
			annotations: map[string]string{"istio-alb.io/enabled": "true", "istio-alb.io/scheme": "public"},
			reason:      "InvalidAnnotation", mentions: []string{"istio-alb.io/scheme", "public"},
		},
		{
			sentence:    "an enabled value other than true or false is rejected",
			annotations: map[string]string{"istio-alb.io/enabled": "yes please"},
			reason:      "InvalidAnnotation", mentions: []string{"istio-alb.io/enabled", "yes please"},
		},
		{
			sentence:    "a selector that matches no Service is reported",
			annotations: enabled,
			selector:    func(*scenario) map[string]string { return map[string]string{"istio": "no-such-gateway"} },
			reason:      "ServiceNotFound", mentions: []string{"istio=no-such-gateway"},
		},
		{
			sentence:    "a gateway Service without a status port is reported",
			annotations: enabled,
			service: func(svc *corev1.Service) {
				svc.Spec.Ports = svc.Spec.Ports[1:] // drop status-port 15021
			},
			reason: "StatusPortNotFound", mentions: []string{"status port", "15021"},
		},
		{
			sentence:    "an inbound CIDR that is not a CIDR is rejected",
			annotations: map[string]string{"istio-alb.io/enabled": "true", "istio-alb.io/inbound-cidrs": "10.0.0.0/8, everyone"},
			reason:      "InvalidAnnotation", mentions: []string{"istio-alb.io/inbound-cidrs", "everyone"},
		},
	}
	for _, c := range cases {
		t.Run(c.sentence, func(t *testing.T) {
			s := newScenario(t, scenarioOptions{})
			svc := fixtures.IngressGatewayService(s.istioNS, s.selector)
			if c.service != nil {
				c.service(svc)
			}
			must(t, s.k8s.Create(s.ctx, svc))
			must(t, s.k8s.Create(s.ctx, fixtures.IngressGatewayDeployment(s.istioNS, s.selector, "/healthz/ready")))
			selector := s.selector
			if c.selector != nil {
				selector = c.selector(s)
			}
			before := s.calls.Snapshot()
			must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", selector, []string{articleHost}, c.annotations)))
			msg := s.event(s.appNS, "gw", c.reason)
			for _, m := range c.mentions {
				if !strings.Contains(msg, m) {
					t.Errorf("event %s: %q does not mention %q", c.reason, msg, m)
				}
			}
			if calls := s.calls.Since(before); len(mutating(calls)) != 0 {
				t.Fatalf("bad input made mutating AWS calls: %v", clients.Format(calls))
			}
			if by := s.owned(s.gatewayKey("gw")); len(by) != 0 {
				t.Fatalf("bad input created AWS resources: %v", by)
			}
			var gw istionet.Gateway
			must(t, s.k8s.Get(s.ctx, client.ObjectKey{Namespace: s.appNS, Name: "gw"}, &gw))
			if len(gw.Finalizers) != 0 {
				t.Fatalf("a gateway with bad input got the finalizer %v", gw.Finalizers)
			}
			must(t, s.k8s.Get(s.ctx, client.ObjectKeyFromObject(svc), svc))
			if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
				t.Fatalf("bad input changed the gateway Service to %s", svc.Spec.Type)
			}
		})
	}
}

func TestFixingABadAnnotationBuildsTheALB(t *testing.T) {
	s := newScenario(t, scenarioOptions{})
	s.article("/healthz/ready")
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost},
		map[string]string{"istio-alb.io/enabled": "true", "istio-alb.io/scheme": "public"})))
	s.event(s.appNS, "gw", "InvalidAnnotation")
	var gw istionet.Gateway
	must(t, s.k8s.Get(s.ctx, client.ObjectKey{Namespace: s.appNS, Name: "gw"}, &gw))
	gw.Annotations["istio-alb.io/scheme"] = "internal"
	must(t, s.k8s.Update(s.ctx, &gw))
	s.waitDNS("gw")
	lb, _, _ := s.loadBalancer(s.gatewayKey("gw"))
	if lb.Scheme != "internal" {
		t.Fatalf("scheme %s, want internal", lb.Scheme)
	}
	var subnets []string
	for _, az := range lb.AvailabilityZones {
		subnets = append(subnets, *az.SubnetId)
	}
	for _, sn := range subnets {
		if !slices.Contains(s.env.PrivateSubnets, sn) {
			t.Fatalf("internal ALB in subnet %s, which is not one of the internal-elb subnets %v", sn, s.env.PrivateSubnets)
		}
	}
}

func TestASecurityGroupWithOurNameButNotOurTagsIsLeftAloneAndReported(t *testing.T) {
	s := newScenario(t, scenarioOptions{})
	s.article("/healthz/ready")
	// Someone else's group with the name the operator would give the ALB's group.
	name := (tags.Owner{Cluster: clusterName, GatewayKey: s.gatewayKey("gw")}).Name(model.ResourceSecurityGroup)
	squatter, err := s.ec2.CreateSecurityGroup(s.ctx, &ec2.CreateSecurityGroupInput{
		GroupName: aws.String(name), Description: aws.String("not the operator's"), VpcId: aws.String(s.env.VPCID)})
	must(t, err)
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost}, enabled)))
	msg := s.event(s.appNS, "gw", "AWSError")
	if !strings.Contains(msg, name) || !strings.Contains(msg, "not ours") {
		t.Fatalf("event %q does not say that %s is not ours", msg, name)
	}
	groups, err := s.ec2.DescribeSecurityGroups(s.ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{aws.ToString(squatter.GroupId)}})
	must(t, err)
	if rules := cidrRules(groups.SecurityGroups[0].IpPermissions); rules != "" || len(groups.SecurityGroups[0].Tags) != 0 {
		t.Fatalf("the operator touched a group that is not its own: rules %q tags %v", rules, groups.SecurityGroups[0].Tags)
	}
	if by := s.owned(s.gatewayKey("gw")); len(by["lb"]) != 0 {
		t.Fatalf("an ALB was created without its security group: %v", by)
	}
}
