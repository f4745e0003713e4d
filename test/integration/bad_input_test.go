package integration_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	istionet "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-alb-operator/istio-alb-operator/aws/clients"
	"github.com/istio-alb-operator/istio-alb-operator/aws/model"
	"github.com/istio-alb-operator/istio-alb-operator/aws/tags"
	"github.com/istio-alb-operator/istio-alb-operator/test/fixtures"
	"github.com/istio-alb-operator/istio-alb-operator/test/rig"
)

func TestBadInputGetsAnEventNamingTheProblemAndCreatesNothingInAWS(t *testing.T) {
	longLabel := strings.Repeat("x", 64) + ".example.com"
	var sixtyTags, thirtyOneCIDRs []string
	for i := range 60 {
		sixtyTags = append(sixtyTags, fmt.Sprintf("tag%d=v", i))
	}
	for i := range 31 {
		thirtyOneCIDRs = append(thirtyOneCIDRs, fmt.Sprintf("10.%d.0.0/16", i))
	}
	with := func(k, v string) map[string]string { return map[string]string{"istio-alb.io/enabled": "true", k: v} }
	cases := []struct {
		sentence    string
		annotations map[string]string
		hosts       []string
		selector    func(s *scenario) map[string]string
		service     func(*corev1.Service)
		objects     func(s *scenario) []client.Object
		reason      string
		mentions    []string
	}{
		{
			sentence:    "subnets that do not exist are reported naming the annotation and the subnets",
			annotations: with("istio-alb.io/subnets", "subnet-0doesnotexist,no-such-subnet"),
			reason:      "NetworkNotFound", mentions: []string{"istio-alb.io/subnets", "subnet-0doesnotexist", "no-such-subnet"},
		},
		{
			sentence:    "60 tags do not fit beside the ownership tags on an AWS resource",
			annotations: with("istio-alb.io/tags", strings.Join(sixtyTags, ",")),
			reason:      "InvalidAnnotation", mentions: []string{"istio-alb.io/tags", "60 tags", "at most 47"},
		},
		{
			sentence:    "a tag value ELBv2 refuses is reported with the pair",
			annotations: with("istio-alb.io/tags", "team=web|mobile"),
			reason:      "InvalidAnnotation", mentions: []string{"istio-alb.io/tags", "team=web|mobile"},
		},
		{
			sentence:    "31 CIDRs need more rules than a security group takes",
			annotations: with("istio-alb.io/inbound-cidrs", strings.Join(thirtyOneCIDRs, ",")),
			reason:      "InvalidAnnotation", mentions: []string{"istio-alb.io/inbound-cidrs", "31 IPv4 CIDRs", "at most 30"},
		},
		{
			sentence:    "a VirtualService host with a 64-character label is reported naming the VirtualService",
			annotations: enabled,
			hosts:       []string{"*.example.com"},
			objects: func(s *scenario) []client.Object {
				return []client.Object{fixtures.VirtualService(s.appNS, "gw", longLabel)}
			},
			reason: "InvalidHost", mentions: []string{"VirtualService " + "%[ns]/test-vs", longLabel, "at most 63"},
		},
		{
			sentence:    "a certificate ARN of another region is reported",
			annotations: with("istio-alb.io/certificate-arns", "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-0000-0000-0000-000000000000"),
			reason:      "InvalidAnnotation", mentions: []string{"istio-alb.io/certificate-arns", "eu-west-1", "its own region"},
		},
		{
			sentence:    "a selector that matches no Service is reported",
			annotations: enabled,
			selector:    func(*scenario) map[string]string { return map[string]string{"istio": "no-such-gateway"} },
			reason:      "ServiceNotFound", mentions: []string{"istio=no-such-gateway"},
		},
		{
			sentence:    "a typo in an annotation key gets the closest known key",
			annotations: with("istio-alb.io/shceme", "internal"),
			reason:      "InvalidAnnotation", mentions: []string{"istio-alb.io/shceme", "did you mean istio-alb.io/scheme"},
		},
		{
			sentence:    "an unknown scheme is rejected naming the annotation and the value",
			annotations: with("istio-alb.io/scheme", "public"),
			reason:      "InvalidAnnotation", mentions: []string{"istio-alb.io/scheme", "public"},
		},
		{
			sentence:    "an enabled value other than true or false is rejected",
			annotations: map[string]string{"istio-alb.io/enabled": "yes please"},
			reason:      "InvalidAnnotation", mentions: []string{"istio-alb.io/enabled", "yes please"},
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
			annotations: with("istio-alb.io/inbound-cidrs", "10.0.0.0/8, everyone"),
			reason:      "InvalidAnnotation", mentions: []string{"istio-alb.io/inbound-cidrs", "everyone"},
		},
		{
			sentence:    "a target-group attribute AWS would refuse is rejected before anything is written",
			annotations: with("istio-alb.io/target-group-attributes", "deregistration_delay.timeout_seconds=5000"),
			reason:      "InvalidAnnotation", mentions: []string{"istio-alb.io/target-group-attributes", "deregistration_delay.timeout_seconds=5000", "0 to 3600"},
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
			must(t, s.k8s.Get(s.ctx, client.ObjectKeyFromObject(svc), svc))
			original := svc.DeepCopy()
			if c.objects != nil {
				for _, o := range c.objects(s) {
					must(t, s.k8s.Create(s.ctx, o))
				}
			}
			selector := s.selector
			if c.selector != nil {
				selector = c.selector(s)
			}
			hosts := []string{articleHost}
			if c.hosts != nil {
				hosts = c.hosts
			}
			before := s.calls.Snapshot()
			must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", selector, hosts, c.annotations)))
			msg := s.event(s.appNS, "gw", c.reason)
			for _, m := range c.mentions {
				m = strings.ReplaceAll(m, "%[ns]", s.appNS)
				if !strings.Contains(msg, m) {
					t.Errorf("event %s: %q does not mention %q", c.reason, msg, m)
				}
			}
			t.Logf("%s: %s", c.reason, msg)
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
			assertUnchanged := func(when string) {
				t.Helper()
				must(t, s.k8s.Get(s.ctx, client.ObjectKeyFromObject(svc), svc))
				if svc.ResourceVersion != original.ResourceVersion || !apiequality.Semantic.DeepEqual(svc.Spec, original.Spec) {
					t.Fatalf("%s the gateway Service changed: type %s, annotations %v", when, svc.Spec.Type, svc.Annotations)
				}
			}
			assertUnchanged("with bad input")
			must(t, s.k8s.Delete(s.ctx, &gw))
			must(t, rig.Eventually(10*time.Second, 100*time.Millisecond, func() error {
				if err := s.k8s.Get(s.ctx, client.ObjectKeyFromObject(&gw), &gw); !apierrors.IsNotFound(err) {
					return fmt.Errorf("gateway still there (%v)", err)
				}
				return nil
			}))
			assertUnchanged("after deleting the Gateway")
			if calls := s.calls.Since(before); len(mutating(calls)) != 0 {
				t.Fatalf("deleting the Gateway made mutating AWS calls: %v", clients.Format(calls))
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
