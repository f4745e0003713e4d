package integration_test

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"

	"github.com/istio-alb-operator/istio-alb-operator/aws/tags"
)

// inventory is everything of interest in the emulated account, read directly (not through the
// tagging API), so that a leak or a duplicate the operator cannot see is seen here.
type inventory struct {
	LoadBalancers  []string // names
	TargetGroups   []string // names
	SecurityGroups []string // names, except the VPC's default group and the seeded node group
	NodeRules      []string // rules of the node security group
	Records        []string // "name TYPE" of the hosted zone, NS and SOA excepted
	Listeners      int
}

func (i inventory) String() string {
	return fmt.Sprintf("load balancers %v, target groups %v, security groups %v, node rules %v, records %v, listeners %d",
		i.LoadBalancers, i.TargetGroups, i.SecurityGroups, i.NodeRules, i.Records, i.Listeners)
}

func (s *scenario) inventory() inventory {
	s.t.Helper()
	var inv inventory
	lbs := elbv2.NewDescribeLoadBalancersPaginator(s.elb, &elbv2.DescribeLoadBalancersInput{})
	for lbs.HasMorePages() {
		page, err := lbs.NextPage(s.ctx)
		must(s.t, err)
		for _, lb := range page.LoadBalancers {
			inv.LoadBalancers = append(inv.LoadBalancers, aws.ToString(lb.LoadBalancerName))
			ls, err := s.elb.DescribeListeners(s.ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: lb.LoadBalancerArn})
			must(s.t, err)
			inv.Listeners += len(ls.Listeners)
		}
	}
	tgs := elbv2.NewDescribeTargetGroupsPaginator(s.elb, &elbv2.DescribeTargetGroupsInput{})
	for tgs.HasMorePages() {
		page, err := tgs.NextPage(s.ctx)
		must(s.t, err)
		for _, tg := range page.TargetGroups {
			inv.TargetGroups = append(inv.TargetGroups, aws.ToString(tg.TargetGroupName))
		}
	}
	sgs, err := s.ec2.DescribeSecurityGroups(s.ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{{Name: aws.String("vpc-id"), Values: []string{s.env.VPCID}}}})
	must(s.t, err)
	for _, g := range sgs.SecurityGroups {
		switch id := aws.ToString(g.GroupId); {
		case id == s.env.NodeSecurityGroupID:
			inv.NodeRules = strings.Split(groupRules(g.IpPermissions), ",")
			if inv.NodeRules[0] == "" {
				inv.NodeRules = nil
			}
		case aws.ToString(g.GroupName) != "default":
			inv.SecurityGroups = append(inv.SecurityGroups, aws.ToString(g.GroupName))
		}
	}
	recs := route53.NewListResourceRecordSetsPaginator(route53.NewFromConfig(s.awsCfg), &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(s.env.HostedZoneID)})
	for recs.HasMorePages() {
		page, err := recs.NextPage(s.ctx)
		must(s.t, err)
		for _, r := range page.ResourceRecordSets {
			if r.Type != r53types.RRTypeNs && r.Type != r53types.RRTypeSoa {
				inv.Records = append(inv.Records, strings.TrimSuffix(aws.ToString(r.Name), ".")+" "+string(r.Type))
			}
		}
	}
	for _, l := range [][]string{inv.LoadBalancers, inv.TargetGroups, inv.SecurityGroups, inv.NodeRules, inv.Records} {
		sort.Strings(l)
	}
	return inv
}

// foreign are resources of someone else in the account: the operator must never touch them.
type foreign struct {
	lb, tg, sg, record string
	before             inventory
}

// addForeign creates a load balancer, a target group, a security group and a record that are not
// the operator's (no ownership tags), and returns them with the inventory holding them.
func (s *scenario) addForeign() foreign {
	s.t.Helper()
	f := foreign{lb: "foreign-lb", tg: "foreign-tg", sg: "foreign-sg", record: "foreign.example.com"}
	sg, err := s.ec2.CreateSecurityGroup(s.ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String(f.sg), Description: aws.String("not the operator's"), VpcId: aws.String(s.env.VPCID)})
	must(s.t, err)
	_, err = s.elb.CreateTargetGroup(s.ctx, &elbv2.CreateTargetGroupInput{Name: aws.String(f.tg), Port: aws.Int32(8080), Protocol: elbv2types.ProtocolEnumHttp, VpcId: aws.String(s.env.VPCID)})
	must(s.t, err)
	_, err = s.elb.CreateLoadBalancer(s.ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String(f.lb), Subnets: s.env.PublicSubnets, SecurityGroups: []string{aws.ToString(sg.GroupId)}})
	must(s.t, err)
	_, err = route53.NewFromConfig(s.awsCfg).ChangeResourceRecordSets(s.ctx, &route53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(s.env.HostedZoneID),
		ChangeBatch: &r53types.ChangeBatch{Changes: []r53types.Change{{Action: r53types.ChangeActionCreate, ResourceRecordSet: &r53types.ResourceRecordSet{
			Name: aws.String(f.record), Type: r53types.RRTypeA, TTL: aws.Int64(60), ResourceRecords: []r53types.ResourceRecord{{Value: aws.String("192.0.2.1")}}}}}},
	})
	must(s.t, err)
	f.before = s.inventory()
	return f
}

// assertOnlyForeign fails unless the account holds exactly the foreign resources (and the
// node security group no rule of the operator's): nothing leaked, nothing foreign touched.
func (s *scenario) assertOnlyForeign(f foreign) {
	s.t.Helper()
	if got := s.inventory(); got.String() != f.before.String() {
		s.t.Fatalf("the account holds\n  %s\nwant only what was there before the gateway\n  %s", got, f.before)
	}
}

// assertOneStack fails unless the account holds the foreign resources plus exactly one stack of
// one gateway: one ALB with its two listeners, one target group, the ALB's security group and the
// cluster's backend group, the node rules for the traffic and health nodePorts, and the alias
// record with its TXT.
func (s *scenario) assertOneStack(f foreign, host string) inventory {
	s.t.Helper()
	got := s.inventory()
	extra := func(have, before []string) []string {
		var out []string
		for _, x := range have {
			if !slices.Contains(before, x) {
				out = append(out, x)
			}
		}
		return out
	}
	lbs, tgs, sgs := extra(got.LoadBalancers, f.before.LoadBalancers), extra(got.TargetGroups, f.before.TargetGroups), extra(got.SecurityGroups, f.before.SecurityGroups)
	records := extra(got.Records, f.before.Records)
	wantRecords := []string{"a-" + host + " TXT", host + " A"}
	if len(lbs) != 1 || len(tgs) != 1 || len(sgs) != 2 || !slices.Contains(sgs, tags.BackendName(clusterName)) || len(got.NodeRules) != 2 || got.Listeners-f.before.Listeners != 2 ||
		!slices.Equal(records, wantRecords) || !slices.Contains(got.LoadBalancers, f.lb) || !slices.Contains(got.TargetGroups, f.tg) ||
		!slices.Contains(got.SecurityGroups, f.sg) || !slices.Contains(got.Records, f.record+" A") {
		s.t.Fatalf("want one stack beside the foreign resources; the account holds %s", got)
	}
	return got
}

// albGroups returns the ALB's own security group and the cluster's backend group, the source of
// the node security group's rules.
func (s *scenario) albGroups(lb elbv2types.LoadBalancer) (own, backend string) {
	s.t.Helper()
	out, err := s.ec2.DescribeSecurityGroups(s.ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: lb.SecurityGroups})
	must(s.t, err)
	for _, g := range out.SecurityGroups {
		if aws.ToString(g.GroupName) == tags.BackendName(clusterName) {
			backend = aws.ToString(g.GroupId)
		} else {
			own = aws.ToString(g.GroupId)
		}
	}
	if own == "" || backend == "" || len(lb.SecurityGroups) != 2 {
		s.t.Fatalf("the ALB's security groups %v are not its own group and the cluster's backend group", lb.SecurityGroups)
	}
	return own, backend
}
