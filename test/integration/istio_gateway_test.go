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
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-alb-operator/istio-alb-operator/aws/clients"
	"github.com/istio-alb-operator/istio-alb-operator/aws/tags"
	"github.com/istio-alb-operator/istio-alb-operator/test/fixtures"
)

const articleHost = "istio-test-alb.example.com"

var enabled = map[string]string{"istio-alb.io/enabled": "true"}

func nodePort(svc *corev1.Service, name string) int32 {
	for _, p := range svc.Spec.Ports {
		if p.Name == name {
			return p.NodePort
		}
	}
	return 0
}

// assertRedirect checks that an HTTP:80 listener answers 301 to HTTPS:443 keeping host, path and query.
func assertRedirect(t *testing.T, l elbv2types.Listener) {
	t.Helper()
	if l.Protocol != elbv2types.ProtocolEnumHttp || len(l.DefaultActions) != 1 || l.DefaultActions[0].Type != elbv2types.ActionTypeEnumRedirect {
		t.Fatalf("HTTP listener: protocol %s actions %+v, want one redirect", l.Protocol, l.DefaultActions)
	}
	r := l.DefaultActions[0].RedirectConfig
	if r == nil || aws.ToString(r.Protocol) != "HTTPS" || aws.ToString(r.Port) != "443" || r.StatusCode != elbv2types.RedirectActionStatusCodeEnumHttp301 ||
		aws.ToString(r.Host) != "#{host}" || aws.ToString(r.Path) != "/#{path}" || aws.ToString(r.Query) != "#{query}" {
		t.Fatalf("redirect %+v, want HTTPS:443 HTTP_301 keeping #{host}, /#{path} and #{query}", r)
	}
}

func TestTheArticlesGatewayGetsANodePortServiceAndAnALBHealthCheckedOnTheStatusPort(t *testing.T) {
	s := newScenario(t, scenarioOptions{})
	created := s.article("/healthz/ready")
	httpNP, statusNP := nodePort(created, "http2"), nodePort(created, "status-port")
	if httpNP == 0 || statusNP == 0 {
		t.Fatalf("the API server allocated no nodePorts: %+v", created.Spec.Ports)
	}
	must(t, s.k8s.Create(s.ctx, fixtures.VirtualService(s.appNS, "test-gateway", articleHost)))

	before := s.calls.Snapshot()
	start := time.Now()
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "test-gateway", s.selector, []string{articleHost}, enabled)))
	dns := s.waitDNS("test-gateway")
	t.Logf("ALB programmed %s after applying the Gateway", time.Since(start).Round(time.Millisecond))
	createCalls := s.calls.Since(before)
	t.Logf("AWS calls of the create (%d): %s", total(createCalls), strings.Join(clients.Format(createCalls), " "))

	// The Service: NodePort, same nodePorts, original type recorded.
	var svc corev1.Service
	must(t, s.k8s.Get(s.ctx, client.ObjectKeyFromObject(created), &svc))
	if svc.Spec.Type != corev1.ServiceTypeNodePort || nodePort(&svc, "http2") != httpNP || nodePort(&svc, "status-port") != statusNP {
		t.Fatalf("service not switched to NodePort with its nodePorts kept: type %s ports %+v", svc.Spec.Type, svc.Spec.Ports)
	}
	if !strings.Contains(svc.Annotations["istio-alb.io/original-service-type"], "LoadBalancer") {
		t.Fatalf("original type not recorded: %v", svc.Annotations)
	}

	// The ALB.
	key := s.gatewayKey("test-gateway")
	lb, listeners, tg := s.loadBalancer(key)
	if aws.ToString(lb.DNSName) != dns || lb.Scheme != elbv2types.LoadBalancerSchemeEnumInternetFacing || lb.Type != elbv2types.LoadBalancerTypeEnumApplication {
		t.Fatalf("load balancer: dns %s scheme %s type %s", aws.ToString(lb.DNSName), lb.Scheme, lb.Type)
	}
	var subnets []string
	for _, az := range lb.AvailabilityZones {
		subnets = append(subnets, aws.ToString(az.SubnetId))
	}
	sort.Strings(subnets)
	want := append([]string(nil), s.env.PublicSubnets...)
	sort.Strings(want)
	if strings.Join(subnets, ",") != strings.Join(want, ",") {
		t.Fatalf("ALB subnets %v, want the public (role/elb) subnets %v", subnets, want)
	}

	// The listeners: HTTPS 443 with the imported *.example.com certificate and the default
	// policy, forwarding to the target group; HTTP 80 answering the exact 301 to HTTPS.
	if len(listeners) != 2 {
		t.Fatalf("want the HTTP:80 and HTTPS:443 listeners, have %d", len(listeners))
	}
	https := s.listener(listeners, 443)
	if https.Protocol != elbv2types.ProtocolEnumHttps || !forwards(https, tg.TargetGroupArn) || aws.ToString(https.SslPolicy) != "ELBSecurityPolicy-TLS13-1-2-2021-06" {
		t.Fatalf("HTTPS listener: protocol %s policy %s actions %+v", https.Protocol, aws.ToString(https.SslPolicy), https.DefaultActions)
	}
	if def, sni := s.listenerCertificates(https); def != s.env.CertificateARN || len(sni) != 0 {
		t.Fatalf("HTTPS certificates: default %s SNI %v, want only %s", def, sni, s.env.CertificateARN)
	}
	assertRedirect(t, s.listener(listeners, 80))

	// The target group: the http2 nodePort, health check on the status port's nodePort.
	if aws.ToInt32(tg.Port) != httpNP || tg.Protocol != elbv2types.ProtocolEnumHttp || tg.TargetType != elbv2types.TargetTypeEnumInstance ||
		aws.ToString(tg.VpcId) != s.env.VPCID {
		t.Fatalf("target group port %d protocol %s type %s vpc %s", aws.ToInt32(tg.Port), tg.Protocol, tg.TargetType, aws.ToString(tg.VpcId))
	}
	if aws.ToString(tg.HealthCheckPort) != strconv.Itoa(int(statusNP)) || aws.ToString(tg.HealthCheckPath) != "/healthz/ready" ||
		tg.HealthCheckProtocol != elbv2types.ProtocolEnumHttp || aws.ToString(tg.Matcher.HttpCode) != "200" {
		t.Fatalf("health check %s %s:%s matcher %s, want HTTP /healthz/ready on %d matcher 200", tg.HealthCheckProtocol,
			aws.ToString(tg.HealthCheckPath), aws.ToString(tg.HealthCheckPort), aws.ToString(tg.Matcher.HttpCode), statusNP)
	}
	wantTargets := []string{fmt.Sprintf("%s:%d", s.env.Instances[0].ID, httpNP), fmt.Sprintf("%s:%d", s.env.Instances[1].ID, httpNP)}
	sort.Strings(wantTargets)
	if got := s.targets(tg.TargetGroupArn); strings.Join(got, ",") != strings.Join(wantTargets, ",") {
		t.Fatalf("targets %v, want %v", got, wantTargets)
	}

	// Tags on every resource: one ALB, one target group, one security group.
	owned := s.owned(key)
	if len(owned["sg"]) != 1 || len(owned["other"]) != 0 {
		t.Fatalf("want exactly one security group and nothing else besides ALB and target group, have %v", owned)
	}
	for kind, rs := range owned {
		for _, r := range rs {
			tagMap := map[string]string{}
			for _, tag := range r.Tags {
				tagMap[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
			}
			if tagMap[tags.Cluster] != clusterName || tagMap[tags.Gateway] != key || tagMap[tags.Resource] == "" {
				t.Fatalf("%s %s has tags %v", kind, aws.ToString(r.ResourceARN), tagMap)
			}
		}
	}

	// Security groups: the ALB's own (80 and 443 from anywhere) and the cluster's backend group,
	// the source of the node group's rules.
	albSG, backend := s.albGroups(lb)
	groups, err := s.ec2.DescribeSecurityGroups(s.ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{albSG, s.env.NodeSecurityGroupID}})
	must(t, err)
	for _, g := range groups.SecurityGroups {
		switch aws.ToString(g.GroupId) {
		case albSG:
			if got := cidrRules(g.IpPermissions); got != "tcp 443-443 0.0.0.0/0,tcp 80-80 0.0.0.0/0" {
				t.Fatalf("ALB security group rules %s", got)
			}
		case s.env.NodeSecurityGroupID:
			wantRules := []string{fmt.Sprintf("tcp %d from %s", httpNP, backend), fmt.Sprintf("tcp %d from %s", statusNP, backend)}
			sort.Strings(wantRules)
			if got := groupRules(g.IpPermissions); got != strings.Join(wantRules, ",") {
				t.Fatalf("node security group rules %s, want %s", got, strings.Join(wantRules, ","))
			}
		}
	}
	s.event(s.appNS, "test-gateway", "LoadBalancerReady")

	t.Run("an idle re-reconcile makes no AWS call", func(t *testing.T) { s.assertIdleReconcile("test-gateway") })
}

func cidrRules(perms []ec2types.IpPermission) string {
	var out []string
	for _, p := range perms {
		for _, r := range p.IpRanges {
			out = append(out, fmt.Sprintf("%s %d-%d %s", aws.ToString(p.IpProtocol), aws.ToInt32(p.FromPort), aws.ToInt32(p.ToPort), aws.ToString(r.CidrIp)))
		}
		for _, r := range p.Ipv6Ranges {
			out = append(out, fmt.Sprintf("%s %d-%d %s", aws.ToString(p.IpProtocol), aws.ToInt32(p.FromPort), aws.ToInt32(p.ToPort), aws.ToString(r.CidrIpv6)))
		}
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func groupRules(perms []ec2types.IpPermission) string {
	var out []string
	for _, p := range perms {
		for _, pair := range p.UserIdGroupPairs {
			if aws.ToString(pair.Description) != tags.NodeRuleDescription {
				continue
			}
			for port := aws.ToInt32(p.FromPort); port <= aws.ToInt32(p.ToPort); port++ {
				out = append(out, fmt.Sprintf("%s %d from %s", aws.ToString(p.IpProtocol), port, aws.ToString(pair.GroupId)))
			}
		}
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}
