package deploy

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/istio-alb-operator/istio-alb-operator/aws/model"
)

// converged is a stack and the survey of an account that holds exactly it.
func converged() (*model.Stack, *Actual, *Survey) {
	stack := &model.Stack{
		SecurityGroup: &model.SecurityGroup{Name: "sg-name", Ingress: []model.IngressRule{{FromPort: 80, ToPort: 80, CIDR: "0.0.0.0/0"}}},
		NodeAccess:    &model.NodeAccess{NodeSecurityGroupID: "sg-nodes", Ports: []int32{30080, 31021}},
		TargetGroups: []model.TargetGroup{{ResourceID: "tg-http", Name: "tg-name", HealthCheck: model.HealthCheck{
			Protocol: "HTTP", Port: "31021", Path: "/healthz/ready", Matcher: "200", IntervalSeconds: 15, TimeoutSeconds: 5, HealthyThreshold: 2, UnhealthyThreshold: 2}}},
		LoadBalancer: &model.LoadBalancer{Name: "lb-name", Scheme: "internet-facing", IPAddressType: "ipv4", Subnets: []string{"subnet-a", "subnet-b"}},
		Listeners: []model.Listener{
			{Port: 80, Protocol: "HTTP", DefaultAction: model.Action{Redirect: &model.Redirect{Protocol: "HTTPS", Port: "443", StatusCode: "HTTP_301"}}},
			{Port: 443, Protocol: "HTTPS", SSLPolicy: "policy", Certificates: []string{"cert"}, DefaultAction: model.Action{ForwardTo: "tg-http"}},
		},
	}
	a := &Actual{
		LoadBalancers: []elbv2types.LoadBalancer{{LoadBalancerName: aws.String("lb-name"), LoadBalancerArn: aws.String("lb"), Scheme: "internet-facing", IpAddressType: "ipv4",
			SecurityGroups:    []string{"sg-own", "sg-backend"},
			AvailabilityZones: []elbv2types.AvailabilityZone{{SubnetId: aws.String("subnet-b")}, {SubnetId: aws.String("subnet-a")}}}},
		TargetGroups: []elbv2types.TargetGroup{{TargetGroupName: aws.String("tg-name"), TargetGroupArn: aws.String("tg"), HealthCheckProtocol: "HTTP",
			HealthCheckPort: aws.String("31021"), HealthCheckPath: aws.String("/healthz/ready"), Matcher: &elbv2types.Matcher{HttpCode: aws.String("200")},
			HealthCheckIntervalSeconds: aws.Int32(15), HealthCheckTimeoutSeconds: aws.Int32(5), HealthyThresholdCount: aws.Int32(2), UnhealthyThresholdCount: aws.Int32(2)}},
		SecurityGroups: []ec2types.SecurityGroup{{GroupName: aws.String("sg-name"), IpPermissions: []ec2types.IpPermission{{
			FromPort: aws.Int32(80), ToPort: aws.Int32(80), IpRanges: []ec2types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}}}},
		Listeners: []elbv2types.Listener{
			{LoadBalancerArn: aws.String("lb"), Port: aws.Int32(80), Protocol: "HTTP", DefaultActions: []elbv2types.Action{{Type: elbv2types.ActionTypeEnumRedirect}}},
			{LoadBalancerArn: aws.String("lb"), Port: aws.Int32(443), Protocol: "HTTPS", SslPolicy: aws.String("policy"),
				Certificates: []elbv2types.Certificate{{CertificateArn: aws.String("cert")}}, DefaultActions: []elbv2types.Action{{Type: elbv2types.ActionTypeEnumForward, TargetGroupArn: aws.String("tg")}}},
		},
	}
	s := &Survey{BackendID: "sg-backend", NodeRules: map[string]map[int32]bool{"sg-nodes": {30080: true, 31021: true}}}
	return stack, a, s
}

func TestDriftSeesWhatTheSurveyCanSee(t *testing.T) {
	cases := []struct {
		sentence string
		change   func(*model.Stack, *Actual, *Survey)
		want     string // "" for no drift, else words of the reason
	}{
		{"a converged stack has no drift", nil, ""},
		{"a deleted load balancer is drift", func(_ *model.Stack, a *Actual, _ *Survey) { a.LoadBalancers = nil }, "load balancer lb-name is missing"},
		{"a subnet changed by hand is drift", func(_ *model.Stack, a *Actual, _ *Survey) {
			a.LoadBalancers[0].AvailabilityZones = a.LoadBalancers[0].AvailabilityZones[:1]
		}, "changed"},
		{"a load balancer without the backend group is drift", func(_ *model.Stack, a *Actual, _ *Survey) { a.LoadBalancers[0].SecurityGroups = []string{"sg-own"} }, "backend group"},
		{"a revoked node rule is drift", func(_ *model.Stack, _ *Actual, s *Survey) { delete(s.NodeRules["sg-nodes"], 30080) }, "port 30080"},
		{"node rules not read are not drift", func(_ *model.Stack, _ *Actual, s *Survey) { s.NodeRules = map[string]map[int32]bool{} }, ""},
		{"a deleted target group is drift", func(_ *model.Stack, a *Actual, _ *Survey) { a.TargetGroups = nil }, "target group tg-name is missing"},
		{"a health check path changed by hand is drift", func(_ *model.Stack, a *Actual, _ *Survey) { a.TargetGroups[0].HealthCheckPath = aws.String("/wrong") }, "health check"},
		{"a CIDR rule added by hand is drift", func(_ *model.Stack, a *Actual, _ *Survey) {
			a.SecurityGroups[0].IpPermissions[0].IpRanges = append(a.SecurityGroups[0].IpPermissions[0].IpRanges, ec2types.IpRange{CidrIp: aws.String("1.2.3.4/32")})
		}, "rules changed"},
		{"a deleted listener is drift", func(_ *model.Stack, a *Actual, _ *Survey) { a.Listeners = a.Listeners[:1] }, "listener 443 is missing"},
		{"a listener forwarding elsewhere is drift", func(_ *model.Stack, a *Actual, _ *Survey) {
			a.Listeners[1].DefaultActions[0].TargetGroupArn = aws.String("other")
		}, "forwards elsewhere"},
		{"an extra listener is drift", func(_ *model.Stack, a *Actual, _ *Survey) {
			a.Listeners = append(a.Listeners, elbv2types.Listener{LoadBalancerArn: aws.String("lb"), Port: aws.Int32(8080), Protocol: "HTTP"})
		}, "does not ask for"},
		{"a gateway of which nothing was found has drifted", func(_ *model.Stack, a *Actual, _ *Survey) { *a = Actual{} }, "missing"},
		{"a group member's part without its target group is drift", func(st *model.Stack, a *Actual, _ *Survey) {
			*st = model.Stack{NodeAccess: st.NodeAccess, TargetGroups: st.TargetGroups}
			a.TargetGroups = nil
		}, "target group tg-name is missing"},
		{"a group member's part is checked without a load balancer of its own", func(st *model.Stack, a *Actual, _ *Survey) {
			*st = model.Stack{NodeAccess: st.NodeAccess, TargetGroups: st.TargetGroups}
			a.LoadBalancers, a.Listeners, a.SecurityGroups = nil, nil, nil
		}, ""},
		{"a group member's revoked node rule is drift", func(st *model.Stack, _ *Actual, s *Survey) {
			*st = model.Stack{NodeAccess: st.NodeAccess, TargetGroups: st.TargetGroups}
			delete(s.NodeRules["sg-nodes"], 31021)
		}, "port 31021"},
		{"a group's 404 listener that forwards now is drift", func(st *model.Stack, a *Actual, _ *Survey) {
			st.Listeners[1].DefaultAction = model.Action{FixedResponse: &model.FixedResponse{StatusCode: "404", ContentType: "text/plain"}}
		}, "no longer answers 404"},
	}
	for _, c := range cases {
		t.Run(c.sentence, func(t *testing.T) {
			stack, a, s := converged()
			if c.change != nil {
				c.change(stack, a, s)
			}
			got := Drift(stack, a, s)
			if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
				t.Fatalf("Drift = %q, want %q", got, c.want)
			}
		})
	}
	if got := Drift(&model.Stack{}, nil, &Survey{}); !strings.Contains(got, "none") {
		t.Fatalf("no actual: %q", got)
	}
}
