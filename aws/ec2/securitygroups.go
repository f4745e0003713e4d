package ec2

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/istio-alb-operator/istio-alb-operator/aws/clients"
	"github.com/istio-alb-operator/istio-alb-operator/aws/model"
	"github.com/istio-alb-operator/istio-alb-operator/aws/tags"
)

// SecurityGroupSynthesizer makes the ALB's own security group what the stack asks for (inbound
// rules from the CIDRs, tags), and deletes the groups the stack no longer asks for together with
// any rule on the node security group whose source they are. The nodes are reached through the
// cluster's Backend group instead.
type SecurityGroupSynthesizer struct {
	API   API
	Owner tags.Owner
	Stack *model.Stack

	actual  []ec2types.SecurityGroup
	kept    string
	created bool
	deleted map[string]bool
}

// Discover reads the candidates that are security groups and looks up the names the tagging API
// may not list yet; groups that no longer exist, or are another owner's, are dropped.
func (s *SecurityGroupSynthesizer) Discover(ctx context.Context, candidates []tags.Tagged, names []string) error {
	var ids []string
	for _, c := range candidates {
		if strings.Contains(c.ARN, ":security-group/") {
			if id := c.ARN[strings.LastIndex(c.ARN, "/")+1:]; !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	slices.Sort(ids)
	groups, err := s.describe(ctx, ids)
	if err != nil {
		return err
	}
	s.actual = groups
	var missing []string
	for _, n := range names {
		if !slices.ContainsFunc(s.actual, func(g ec2types.SecurityGroup) bool { return aws.ToString(g.GroupName) == n }) {
			missing = append(missing, n)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	out, err := s.API.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{
		{Name: aws.String("group-name"), Values: missing},
		{Name: aws.String("tag:" + tags.Cluster), Values: []string{s.Owner.Cluster}},
	}})
	if err != nil {
		return fmt.Errorf("DescribeSecurityGroups named %v: %w", missing, err)
	}
	for _, g := range out.SecurityGroups {
		if s.Owner.Owns(TagMap(g.Tags)) && !slices.ContainsFunc(s.actual, func(a ec2types.SecurityGroup) bool { return aws.ToString(a.GroupId) == aws.ToString(g.GroupId) }) {
			s.actual = append(s.actual, g)
		}
	}
	return nil
}

// describe reads groups by id; those that no longer exist are left out.
func (s *SecurityGroupSynthesizer) describe(ctx context.Context, ids []string) ([]ec2types.SecurityGroup, error) {
	return clients.DescribeExisting(ids, 200, func(ids []string) ([]ec2types.SecurityGroup, error) {
		out, err := s.API.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: ids})
		if err != nil {
			return nil, fmt.Errorf("DescribeSecurityGroups %v: %w", ids, err)
		}
		return out.SecurityGroups, nil
	})
}

// Synthesize makes the ALB group and its node rules what the stack says.
func (s *SecurityGroupSynthesizer) Synthesize(ctx context.Context, out *model.Deployed) error {
	want := s.Stack.SecurityGroup
	i := slices.IndexFunc(s.actual, func(g ec2types.SecurityGroup) bool {
		return aws.ToString(g.GroupName) == want.Name && aws.ToString(g.VpcId) == want.VPCID
	})
	var group *ec2types.SecurityGroup // nil: just created, so no rules and all tags
	var id string
	if i >= 0 {
		group = &s.actual[i]
		id = aws.ToString(group.GroupId)
	} else {
		created, err := s.API.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
			GroupName:   aws.String(want.Name),
			Description: aws.String(want.Description),
			VpcId:       aws.String(want.VPCID),
			TagSpecifications: []ec2types.TagSpecification{{
				ResourceType: ec2types.ResourceTypeSecurityGroup,
				Tags:         ec2Tags(s.Owner.For(model.ResourceSecurityGroup, s.Stack.Tags)),
			}},
		})
		switch {
		case err == nil:
			id = aws.ToString(created.GroupId)
			s.created = true
			s.actual = append(s.actual, ec2types.SecurityGroup{GroupId: created.GroupId, GroupName: aws.String(want.Name), VpcId: aws.String(want.VPCID),
				Tags: ec2Tags(s.Owner.For(model.ResourceSecurityGroup, s.Stack.Tags))})
		case clients.IsDuplicate(err):
			// The tagging API had not listed it yet (it is eventually consistent): adopt the
			// group only if it carries our ownership tags.
			if group, err = s.ownedByName(ctx, want); err != nil {
				return err
			}
			id = aws.ToString(group.GroupId)
			s.actual = append(s.actual, *group)
		default:
			return fmt.Errorf("CreateSecurityGroup %s: %w", want.Name, err)
		}
	}
	s.kept = id
	out.SecurityGroupID = id
	var actual []model.IngressRule
	if group != nil {
		actual = cidrRules(group.IpPermissions)
		if missing := missingTags(group.Tags, s.Owner.For(model.ResourceSecurityGroup, s.Stack.Tags)); len(missing) > 0 {
			if _, err := s.API.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: missing}); err != nil {
				return fmt.Errorf("CreateTags %s: %w", id, err)
			}
		}
	}
	add, remove := diffRules(want.Ingress, actual)
	if len(add) > 0 {
		if _, err := s.API.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(id), IpPermissions: cidrPermissions(add)}); err != nil {
			return fmt.Errorf("AuthorizeSecurityGroupIngress %s: %w", id, err)
		}
	}
	if len(remove) > 0 {
		if _, err := s.API.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String(id), IpPermissions: cidrPermissions(remove)}); err != nil {
			return fmt.Errorf("RevokeSecurityGroupIngress %s: %w", id, err)
		}
	}
	return nil
}

// PostSynthesize deletes the groups the stack does not use, their rules on the node security
// group first. AWS refuses while a deleted ALB's interfaces still use a group, which resolves
// itself.
func (s *SecurityGroupSynthesizer) PostSynthesize(ctx context.Context) error {
	s.deleted = map[string]bool{}
	if s.kept != "" {
		// The nodes are reached through the cluster's backend group, which the ALB has by now:
		// rules an earlier version added for the ALB's own group go.
		if err := s.ensureNodeAccess(ctx, nil, s.kept, s.created); err != nil {
			return err
		}
	}
	for _, g := range s.actual {
		id := aws.ToString(g.GroupId)
		if id == s.kept {
			continue
		}
		if err := s.ensureNodeAccess(ctx, nil, id, false); err != nil {
			return err
		}
		if _, err := s.API.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(id)}); err != nil && !clients.IsNotFound(err) {
			return clients.NotYet(fmt.Errorf("DeleteSecurityGroup %s: %w", id, err))
		}
		s.deleted[id] = true
	}
	return nil
}

// Owned returns the groups that exist after the apply, to remember.
func (s *SecurityGroupSynthesizer) Owned() []tags.Tagged {
	var out []tags.Tagged
	for _, g := range s.actual {
		if id := aws.ToString(g.GroupId); !s.deleted[id] {
			out = append(out, tags.Tagged{ARN: "arn:aws:ec2:::security-group/" + id, Tags: TagMap(g.Tags)})
		}
	}
	return out
}

// TagMap is an EC2 tag list as a map.
func TagMap(ts []ec2types.Tag) map[string]string {
	out := map[string]string{}
	for _, t := range ts {
		out[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return out
}

// ownedByName finds the group named want.Name in the VPC, provided it is ours.
func (s *SecurityGroupSynthesizer) ownedByName(ctx context.Context, want *model.SecurityGroup) (*ec2types.SecurityGroup, error) {
	out, err := s.API.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{
		{Name: aws.String("group-name"), Values: []string{want.Name}},
		{Name: aws.String("vpc-id"), Values: []string{want.VPCID}},
	}})
	if err != nil {
		return nil, fmt.Errorf("DescribeSecurityGroups named %s: %w", want.Name, err)
	}
	for i := range out.SecurityGroups {
		g := &out.SecurityGroups[i]
		if s.Owner.Owns(TagMap(g.Tags)) {
			return g, nil
		}
	}
	return nil, fmt.Errorf("security group %s already exists in VPC %s without the ownership tags of %s; it is not ours, so it is left alone: delete or rename it",
		want.Name, want.VPCID, s.Owner.GatewayKey)
}

// ensureNodeAccess makes the rules whose source is the ALB group (albGroupID) match want: on the
// node security group, exactly want.Ports; on any other group, none. want nil removes them all.
// Only rules with the operator's description are touched; created reports that the ALB group was
// just created, so no rule can reference it yet and no read is needed.
func (s *SecurityGroupSynthesizer) ensureNodeAccess(ctx context.Context, want *model.NodeAccess, albGroupID string, created bool) error {
	type key struct {
		group string
		port  int32
	}
	have := map[key]bool{}
	if !created {
		p := ec2.NewDescribeSecurityGroupsPaginator(s.API, &ec2.DescribeSecurityGroupsInput{
			Filters: []ec2types.Filter{{Name: aws.String("ip-permission.group-id"), Values: []string{albGroupID}}},
		})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return fmt.Errorf("DescribeSecurityGroups referencing %s: %w", albGroupID, err)
			}
			for _, g := range page.SecurityGroups {
				for _, perm := range g.IpPermissions {
					for _, pair := range perm.UserIdGroupPairs {
						if aws.ToString(pair.GroupId) != albGroupID || aws.ToString(pair.Description) != tags.NodeRuleDescription {
							continue
						}
						for port := aws.ToInt32(perm.FromPort); port <= aws.ToInt32(perm.ToPort); port++ {
							have[key{aws.ToString(g.GroupId), port}] = true
						}
					}
				}
			}
		}
	}
	wanted := map[key]bool{}
	if want != nil {
		for _, p := range want.Ports {
			wanted[key{want.NodeSecurityGroupID, p}] = true
		}
	}
	add := map[string][]int32{}
	remove := map[string][]int32{}
	for k := range wanted {
		if !have[k] {
			add[k.group] = append(add[k.group], k.port)
		}
	}
	for k := range have {
		if !wanted[k] {
			remove[k.group] = append(remove[k.group], k.port)
		}
	}
	for _, group := range slices.Sorted(maps.Keys(remove)) {
		if _, err := s.API.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{
			GroupId: aws.String(group), IpPermissions: groupPermissions(albGroupID, remove[group]),
		}); err != nil {
			return fmt.Errorf("RevokeSecurityGroupIngress %s from %s: %w", group, albGroupID, err)
		}
	}
	for _, group := range slices.Sorted(maps.Keys(add)) {
		if _, err := s.API.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{
			GroupId: aws.String(group), IpPermissions: groupPermissions(albGroupID, add[group]),
		}); err != nil {
			return fmt.Errorf("AuthorizeSecurityGroupIngress %s from %s: %w", group, albGroupID, err)
		}
	}
	return nil
}

func cidrRules(perms []ec2types.IpPermission) []model.IngressRule {
	var out []model.IngressRule
	for _, p := range perms {
		if aws.ToString(p.IpProtocol) != "tcp" {
			continue
		}
		for _, r := range p.IpRanges {
			out = append(out, model.IngressRule{FromPort: aws.ToInt32(p.FromPort), ToPort: aws.ToInt32(p.ToPort), CIDR: aws.ToString(r.CidrIp)})
		}
		for _, r := range p.Ipv6Ranges {
			out = append(out, model.IngressRule{FromPort: aws.ToInt32(p.FromPort), ToPort: aws.ToInt32(p.ToPort), CIDR: aws.ToString(r.CidrIpv6)})
		}
	}
	return out
}

func diffRules(want, have []model.IngressRule) (add, remove []model.IngressRule) {
	h := map[model.IngressRule]bool{}
	for _, r := range have {
		h[r] = true
	}
	w := map[model.IngressRule]bool{}
	for _, r := range want {
		w[r] = true
		if !h[r] {
			add = append(add, r)
		}
	}
	for _, r := range have {
		if !w[r] {
			remove = append(remove, r)
		}
	}
	return add, remove
}

func cidrPermissions(rules []model.IngressRule) []ec2types.IpPermission {
	var out []ec2types.IpPermission
	for _, r := range rules {
		p := ec2types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(r.FromPort), ToPort: aws.Int32(r.ToPort)}
		if strings.Contains(r.CIDR, ":") {
			p.Ipv6Ranges = []ec2types.Ipv6Range{{CidrIpv6: aws.String(r.CIDR), Description: aws.String(tags.NodeRuleDescription)}}
		} else {
			p.IpRanges = []ec2types.IpRange{{CidrIp: aws.String(r.CIDR), Description: aws.String(tags.NodeRuleDescription)}}
		}
		out = append(out, p)
	}
	return out
}

func groupPermissions(source string, ports []int32) []ec2types.IpPermission {
	sort.Slice(ports, func(i, j int) bool { return ports[i] < ports[j] })
	var out []ec2types.IpPermission
	for _, p := range ports {
		out = append(out, ec2types.IpPermission{
			IpProtocol: aws.String("tcp"), FromPort: aws.Int32(p), ToPort: aws.Int32(p),
			UserIdGroupPairs: []ec2types.UserIdGroupPair{{GroupId: aws.String(source), Description: aws.String(tags.NodeRuleDescription)}},
		})
	}
	return out
}

func ec2Tags(m map[string]string) []ec2types.Tag {
	var out []ec2types.Tag
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, ec2types.Tag{Key: aws.String(k), Value: aws.String(m[k])})
	}
	return out
}

func missingTags(have []ec2types.Tag, want map[string]string) []ec2types.Tag {
	h := map[string]string{}
	for _, t := range have {
		h[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	var out []ec2types.Tag
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if v, ok := h[k]; !ok || v != want[k] {
			out = append(out, ec2types.Tag{Key: aws.String(k), Value: aws.String(want[k])})
		}
	}
	return out
}
