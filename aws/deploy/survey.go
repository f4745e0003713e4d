package deploy

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2sdk "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	tagging "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"
	taggingtypes "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi/types"

	"github.com/istio-alb-operator/istio-alb-operator/aws/clients"
	"github.com/istio-alb-operator/istio-alb-operator/aws/ec2"
	"github.com/istio-alb-operator/istio-alb-operator/aws/elbv2"
	"github.com/istio-alb-operator/istio-alb-operator/aws/model"
	"github.com/istio-alb-operator/istio-alb-operator/aws/tags"
)

// Survey is one batched read of every resource of the cluster: what a periodic drift pass, or
// the first reconciles after a start, compare each gateway's stack with, instead of reading each
// gateway's resources on their own.
type Survey struct {
	At time.Time
	// Gateways are the resources found for each gateway, by gateway key.
	Gateways map[string]*Actual
	// NodeRules are the nodePorts each node security group opens to the backend group.
	NodeRules map[string]map[int32]bool
	// BackendID is the cluster's backend group, "" when there is none.
	BackendID string
}

// Actual is what exists of one gateway.
type Actual struct {
	Resources      []tags.Tagged
	LoadBalancers  []elbv2types.LoadBalancer
	TargetGroups   []elbv2types.TargetGroup
	SecurityGroups []ec2types.SecurityGroup
	Listeners      []elbv2types.Listener
}

// Survey reads the cluster's resources: one paginated tagging call, load balancers and target
// groups described 20 at a time, the cluster's security groups in one filtered call, the
// listeners remembered (listenerARNs, 20 at a time; the others are read per load balancer) and
// the node security groups once.
func (d *Deployer) Survey(ctx context.Context, cluster string, listenerARNs, nodeGroups []string) (*Survey, error) {
	s := &Survey{At: time.Now(), Gateways: map[string]*Actual{}, NodeRules: map[string]map[int32]bool{}}
	actual := func(key string) *Actual {
		if s.Gateways[key] == nil {
			s.Gateways[key] = &Actual{}
		}
		return s.Gateways[key]
	}
	p := tagging.NewGetResourcesPaginator(d.Tagging, &tagging.GetResourcesInput{
		ResourceTypeFilters: []string{"elasticloadbalancing:loadbalancer", "elasticloadbalancing:targetgroup"},
		TagFilters:          []taggingtypes.TagFilter{{Key: aws.String(tags.Cluster), Values: []string{cluster}}},
	})
	var lbARNs, tgARNs []string
	gatewayOf := map[string]string{}
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("GetResources of cluster %s: %w", cluster, err)
		}
		for _, r := range page.ResourceTagMappingList {
			t := map[string]string{}
			for _, tag := range r.Tags {
				t[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
			}
			key, arn := t[tags.Gateway], aws.ToString(r.ResourceARN)
			if key == "" || t[tags.Cluster] != cluster {
				continue
			}
			gatewayOf[arn] = key
			actual(key).Resources = append(actual(key).Resources, tags.Tagged{ARN: arn, Tags: t})
			if strings.Contains(arn, ":loadbalancer/") {
				lbARNs = append(lbARNs, arn)
			} else {
				tgARNs = append(tgARNs, arn)
			}
		}
	}
	lbs, err := elbv2.DescribeLoadBalancers(ctx, d.ELBV2, lbARNs)
	if err != nil {
		return nil, err
	}
	for _, lb := range lbs {
		a := actual(gatewayOf[aws.ToString(lb.LoadBalancerArn)])
		a.LoadBalancers = append(a.LoadBalancers, lb)
	}
	tgs, err := elbv2.DescribeTargetGroups(ctx, d.ELBV2, tgARNs)
	if err != nil {
		return nil, err
	}
	for _, tg := range tgs {
		a := actual(gatewayOf[aws.ToString(tg.TargetGroupArn)])
		a.TargetGroups = append(a.TargetGroups, tg)
	}
	groups := awsec2.NewDescribeSecurityGroupsPaginator(d.EC2, &awsec2.DescribeSecurityGroupsInput{
		Filters: []ec2types.Filter{{Name: aws.String("tag:" + tags.Cluster), Values: []string{cluster}}},
	})
	for groups.HasMorePages() {
		page, err := groups.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("DescribeSecurityGroups of cluster %s: %w", cluster, err)
		}
		for _, g := range page.SecurityGroups {
			t := ec2.TagMap(g.Tags)
			switch {
			case t[tags.Resource] == tags.ResourceBackendSecurityGroup:
				s.BackendID = aws.ToString(g.GroupId)
			case t[tags.Gateway] != "":
				a := actual(t[tags.Gateway])
				a.SecurityGroups = append(a.SecurityGroups, g)
			}
		}
	}
	if err := s.readListeners(ctx, d.ELBV2, listenerARNs); err != nil {
		return nil, err
	}
	if len(nodeGroups) > 0 {
		out, err := d.EC2.DescribeSecurityGroups(ctx, &awsec2.DescribeSecurityGroupsInput{GroupIds: nodeGroups})
		if err != nil {
			return nil, fmt.Errorf("DescribeSecurityGroups %v: %w", nodeGroups, err)
		}
		for _, g := range out.SecurityGroups {
			s.NodeRules[aws.ToString(g.GroupId)] = ec2.RulesFrom(g, s.BackendID)
		}
	}
	return s, nil
}

// readListeners reads the remembered listeners 20 at a time, and the listeners of load
// balancers none of whose listeners is remembered one load balancer at a time.
func (s *Survey) readListeners(ctx context.Context, api elbv2.API, remembered []string) error {
	byLB := map[string]*Actual{}
	for _, a := range s.Gateways {
		for _, lb := range a.LoadBalancers {
			byLB[aws.ToString(lb.LoadBalancerArn)] = a
		}
	}
	covered := map[string]bool{}
	sort.Strings(remembered)
	ls, err := elbv2.DescribeListeners(ctx, api, remembered)
	if err != nil {
		return err
	}
	for _, l := range ls {
		lb := aws.ToString(l.LoadBalancerArn)
		if a := byLB[lb]; a != nil {
			a.Listeners = append(a.Listeners, l)
			covered[lb] = true
		}
	}
	for _, lb := range slices.Sorted(maps.Keys(byLB)) {
		if covered[lb] {
			continue
		}
		pg := elbv2sdk.NewDescribeListenersPaginator(api, &elbv2sdk.DescribeListenersInput{LoadBalancerArn: aws.String(lb)})
		for pg.HasMorePages() {
			page, err := pg.NextPage(ctx)
			if clients.IsNotFound(err) {
				break
			}
			if err != nil {
				return fmt.Errorf("DescribeListeners %s: %w", lb, err)
			}
			byLB[lb].Listeners = append(byLB[lb].Listeners, page.Listeners...)
		}
	}
	return nil
}

// Drift compares a gateway's applied stack with what the survey found, and returns what
// differs ("" when nothing the survey can see does): load balancer, target groups, the ALB's
// security group and its CIDR rules, listeners, node rules. Registered targets, attributes and
// SNI certificates are not in the survey; the full apply of each gateway every full sync period
// checks them.
func Drift(stack *model.Stack, a *Actual, s *Survey) string {
	if a == nil {
		return "none of its resources was found"
	}
	if stack.LoadBalancer == nil {
		// A group member's part: its target groups and node rules (the group's ALB is the group's).
		if reason := nodeRuleDrift(stack, s); reason != "" {
			return reason
		}
		_, reason := targetGroupDrift(stack, a)
		return reason
	}
	want := stack.LoadBalancer
	i := slices.IndexFunc(a.LoadBalancers, func(lb elbv2types.LoadBalancer) bool { return aws.ToString(lb.LoadBalancerName) == want.Name })
	if i < 0 {
		return "load balancer " + want.Name + " is missing"
	}
	lb := a.LoadBalancers[i]
	var subnets []string
	for _, az := range lb.AvailabilityZones {
		subnets = append(subnets, aws.ToString(az.SubnetId))
	}
	sort.Strings(subnets)
	if string(lb.Scheme) != want.Scheme || string(lb.IpAddressType) != want.IPAddressType || strings.Join(subnets, ",") != strings.Join(want.Subnets, ",") {
		return "load balancer " + want.Name + " changed"
	}
	if stack.NodeAccess != nil && s.BackendID != "" && !slices.Contains(lb.SecurityGroups, s.BackendID) {
		return "load balancer " + want.Name + " lost the backend group"
	}
	if reason := nodeRuleDrift(stack, s); reason != "" {
		return reason
	}
	tgARN, reason := targetGroupDrift(stack, a)
	if reason != "" {
		return reason
	}
	k := slices.IndexFunc(a.SecurityGroups, func(g ec2types.SecurityGroup) bool { return aws.ToString(g.GroupName) == stack.SecurityGroup.Name })
	if k < 0 {
		return "security group " + stack.SecurityGroup.Name + " is missing"
	}
	if !sameCIDRRules(a.SecurityGroups[k].IpPermissions, stack.SecurityGroup.Ingress) {
		return "security group " + stack.SecurityGroup.Name + " rules changed"
	}
	for _, wl := range stack.Listeners {
		m := slices.IndexFunc(a.Listeners, func(l elbv2types.Listener) bool {
			return aws.ToString(l.LoadBalancerArn) == aws.ToString(lb.LoadBalancerArn) && aws.ToInt32(l.Port) == wl.Port
		})
		if m < 0 {
			return fmt.Sprintf("listener %d is missing", wl.Port)
		}
		l := a.Listeners[m]
		if string(l.Protocol) != wl.Protocol || len(l.DefaultActions) != 1 {
			return fmt.Sprintf("listener %d changed", wl.Port)
		}
		act := l.DefaultActions[0]
		switch {
		case wl.DefaultAction.Redirect != nil:
			if act.Type != elbv2types.ActionTypeEnumRedirect {
				return fmt.Sprintf("listener %d no longer redirects", wl.Port)
			}
		case wl.DefaultAction.FixedResponse != nil:
			if act.Type != elbv2types.ActionTypeEnumFixedResponse {
				return fmt.Sprintf("listener %d no longer answers %s itself", wl.Port, wl.DefaultAction.FixedResponse.StatusCode)
			}
		case aws.ToString(act.TargetGroupArn) != tgARN[wl.DefaultAction.ForwardTo] &&
			(act.ForwardConfig == nil || len(act.ForwardConfig.TargetGroups) != 1 || aws.ToString(act.ForwardConfig.TargetGroups[0].TargetGroupArn) != tgARN[wl.DefaultAction.ForwardTo]):
			return fmt.Sprintf("listener %d forwards elsewhere", wl.Port)
		}
		if wl.Protocol == "HTTPS" {
			if aws.ToString(l.SslPolicy) != wl.SSLPolicy || !slices.ContainsFunc(l.Certificates, func(c elbv2types.Certificate) bool {
				return aws.ToString(c.CertificateArn) == wl.Certificates[0]
			}) {
				return fmt.Sprintf("listener %d's policy or certificate changed", wl.Port)
			}
		}
	}
	if len(a.Listeners) != len(stack.Listeners) {
		return "the load balancer has listeners the stack does not ask for"
	}
	return ""
}

// nodeRuleDrift names a node rule the stack wants and the node security group lacks.
func nodeRuleDrift(stack *model.Stack, s *Survey) string {
	if open, read := s.NodeRules[nodeGroup(stack)]; read {
		for _, p := range stack.NodeAccess.Ports {
			if !open[p] {
				return fmt.Sprintf("node rule for port %d is missing", p)
			}
		}
	}
	return ""
}

// targetGroupDrift returns the ARNs of the stack's target groups by resource id, or what differs.
func targetGroupDrift(stack *model.Stack, a *Actual) (map[string]string, string) {
	tgARN := map[string]string{}
	for _, wt := range stack.TargetGroups {
		j := slices.IndexFunc(a.TargetGroups, func(tg elbv2types.TargetGroup) bool { return aws.ToString(tg.TargetGroupName) == wt.Name })
		if j < 0 {
			return nil, "target group " + wt.Name + " is missing"
		}
		tg := a.TargetGroups[j]
		tgARN[wt.ResourceID] = aws.ToString(tg.TargetGroupArn)
		hc := wt.HealthCheck
		matcher := elbv2.MatcherCodes(tg.Matcher)
		if string(tg.HealthCheckProtocol) != hc.Protocol || aws.ToString(tg.HealthCheckPort) != hc.Port || aws.ToString(tg.HealthCheckPath) != hc.Path ||
			matcher != hc.Matcher || aws.ToInt32(tg.HealthCheckIntervalSeconds) != hc.IntervalSeconds || aws.ToInt32(tg.HealthCheckTimeoutSeconds) != hc.TimeoutSeconds ||
			aws.ToInt32(tg.HealthyThresholdCount) != hc.HealthyThreshold || aws.ToInt32(tg.UnhealthyThresholdCount) != hc.UnhealthyThreshold {
			return nil, "target group " + wt.Name + " health check changed"
		}
	}
	return tgARN, ""
}

func nodeGroup(stack *model.Stack) string {
	if stack.NodeAccess == nil {
		return ""
	}
	return stack.NodeAccess.NodeSecurityGroupID
}

func sameCIDRRules(perms []ec2types.IpPermission, want []model.IngressRule) bool {
	var have []string
	for _, p := range perms {
		for _, r := range p.IpRanges {
			have = append(have, fmt.Sprintf("%d-%d %s", aws.ToInt32(p.FromPort), aws.ToInt32(p.ToPort), aws.ToString(r.CidrIp)))
		}
		for _, r := range p.Ipv6Ranges {
			have = append(have, fmt.Sprintf("%d-%d %s", aws.ToInt32(p.FromPort), aws.ToInt32(p.ToPort), aws.ToString(r.CidrIpv6)))
		}
	}
	var w []string
	for _, r := range want {
		w = append(w, fmt.Sprintf("%d-%d %s", r.FromPort, r.ToPort, r.CIDR))
	}
	sort.Strings(have)
	sort.Strings(w)
	return strings.Join(have, ",") == strings.Join(w, ",")
}
