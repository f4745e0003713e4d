package ec2

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/istio-alb-operator/istio-alb-operator/aws/clients"
	"github.com/istio-alb-operator/istio-alb-operator/aws/tags"
)

// Backend is the cluster's one backend security group: attached to every ALB of the cluster
// beside the ALB's own group, it is the source of the node security group's rules, which open
// only the nodePorts in use (traffic and health), each once whatever the number of gateways. The
// node security group's rules therefore do not grow with the gateways (its quota is 60 rules).
// It is created on first need and deleted when the last gateway goes. One Backend serves all the
// reconciles of the process, one at a time.
type Backend struct {
	API     API
	Cluster string

	mu sync.Mutex
	// id is the group's id once found or created; vpc its VPC.
	id, vpc string
	// ports are the nodePorts each gateway needs, by gateway key.
	ports map[string][]int32
	// open are the nodePorts known open on each node security group.
	open map[string]map[int32]bool
}

// Ensure makes the backend group exist in the VPC and the node security group let it reach the
// gateway's ports (nodePorts, or the pods' container ports for ip targets); it returns the
// group's id. Rules other gateways need are kept. Without a node group only the backend group is
// made.
func (b *Backend) Ensure(ctx context.Context, vpcID, nodeGroupID, gatewayKey string, ports []int32) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ports == nil {
		b.ports, b.open = map[string][]int32{}, map[string]map[int32]bool{}
	}
	b.ports[gatewayKey] = slices.Clone(ports)
	id, created, err := b.group(ctx, vpcID)
	if err != nil {
		return "", err
	}
	if nodeGroupID == "" {
		// No EC2 nodes (ip targets on Fargate): the ALB still carries the backend group, the
		// one source the pods' security groups need to allow.
		return id, nil
	}
	if b.open[nodeGroupID] == nil || created {
		if err := b.read(ctx, nodeGroupID); err != nil {
			return id, err
		}
	}
	var missing []int32
	for _, p := range ports {
		if !b.open[nodeGroupID][p] {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return id, nil
	}
	if _, err := b.API.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{
		GroupId: aws.String(nodeGroupID), IpPermissions: groupPermissions(id, missing),
	}); err != nil && clients.ErrorCode(err) != "InvalidPermission.Duplicate" {
		return id, fmt.Errorf("AuthorizeSecurityGroupIngress %s from %s: %w", nodeGroupID, id, err)
	}
	for _, p := range missing {
		b.open[nodeGroupID][p] = true
	}
	return id, nil
}

// group finds the backend group of the VPC, or creates it; created says it was just created.
func (b *Backend) group(ctx context.Context, vpcID string) (string, bool, error) {
	if b.id != "" && b.vpc == vpcID {
		return b.id, false, nil
	}
	name := tags.BackendName(b.Cluster)
	out, err := b.API.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{
		{Name: aws.String("group-name"), Values: []string{name}},
		{Name: aws.String("vpc-id"), Values: []string{vpcID}},
	}})
	if err != nil {
		return "", false, fmt.Errorf("DescribeSecurityGroups named %s: %w", name, err)
	}
	for _, g := range out.SecurityGroups {
		if t := TagMap(g.Tags); t[tags.Cluster] == b.Cluster && t[tags.Resource] == tags.ResourceBackendSecurityGroup {
			b.id, b.vpc = aws.ToString(g.GroupId), vpcID
			return b.id, false, nil
		}
		return "", false, fmt.Errorf("security group %s exists in VPC %s without the tags of cluster %s's backend group; it is not ours, so it is left alone: delete or rename it", name, vpcID, b.Cluster)
	}
	created, err := b.API.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
		GroupName:   aws.String(name),
		Description: aws.String("ALB-to-node traffic of the gateways of cluster " + b.Cluster + ", managed by istio-alb-operator"),
		VpcId:       aws.String(vpcID),
		TagSpecifications: []ec2types.TagSpecification{{
			ResourceType: ec2types.ResourceTypeSecurityGroup,
			Tags:         ec2Tags(tags.BackendTags(b.Cluster)),
		}},
	})
	if err != nil {
		return "", false, fmt.Errorf("CreateSecurityGroup %s: %w", name, err)
	}
	b.id, b.vpc = aws.ToString(created.GroupId), vpcID
	return b.id, true, nil
}

// read learns which nodePorts the node security group opens to the backend group.
func (b *Backend) read(ctx context.Context, nodeGroupID string) error {
	out, err := b.API.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{nodeGroupID}})
	if err != nil {
		return fmt.Errorf("DescribeSecurityGroups %s: %w", nodeGroupID, err)
	}
	open := map[int32]bool{}
	for _, g := range out.SecurityGroups {
		for port := range RulesFrom(g, b.id) {
			open[port] = true
		}
	}
	b.open[nodeGroupID] = open
	return nil
}

// RulesFrom returns the nodePorts a group opens to source with the operator's description.
func RulesFrom(g ec2types.SecurityGroup, source string) map[int32]bool {
	out := map[int32]bool{}
	for _, perm := range g.IpPermissions {
		for _, pair := range perm.UserIdGroupPairs {
			if aws.ToString(pair.GroupId) != source || aws.ToString(pair.Description) != tags.NodeRuleDescription {
				continue
			}
			for port := aws.ToInt32(perm.FromPort); port <= aws.ToInt32(perm.ToPort); port++ {
				out[port] = true
			}
		}
	}
	return out
}

// Note records the nodePorts a gateway needs without a call: a gateway found as applied after
// a start counts for pruning like one that applied.
func (b *Backend) Note(gatewayKey string, ports []int32) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ports == nil {
		b.ports, b.open = map[string][]int32{}, map[string]map[int32]bool{}
	}
	b.ports[gatewayKey] = slices.Clone(ports)
}

// Release forgets the gateway's nodePorts. others are the gateways of the cluster still managed:
// with none, the group's rules are revoked and the group deleted; when every one of them has told
// its nodePorts since the start, the rules no gateway needs any more are revoked (otherwise they
// wait for a later release or Prune, rather than guessing what others need).
func (b *Backend) Release(ctx context.Context, vpcID, gatewayKey string, others []string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.ports, gatewayKey)
	// A gateway that has just opened its nodePorts may not be among others yet (the caller's
	// view lags): the group stays while any gateway has told its nodePorts.
	if len(others) == 0 && len(b.ports) == 0 {
		return b.delete(ctx, vpcID)
	}
	return b.prune(ctx, others)
}

// Prune revokes the rules no managed gateway needs, when every one of them (others) has told its
// nodePorts since the start.
func (b *Backend) Prune(ctx context.Context, managed []string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.prune(ctx, managed)
}

func (b *Backend) prune(ctx context.Context, managed []string) error {
	if b.id == "" {
		return nil
	}
	for _, k := range managed {
		if _, known := b.ports[k]; !known {
			return nil
		}
	}
	// Every gateway that told its nodePorts keeps them, also one the caller does not count yet.
	need := map[int32]bool{}
	for _, ports := range b.ports {
		for _, p := range ports {
			need[p] = true
		}
	}
	for _, group := range slices.Sorted(maps.Keys(b.open)) {
		var extra []int32
		for p := range b.open[group] {
			if !need[p] {
				extra = append(extra, p)
			}
		}
		if len(extra) == 0 {
			continue
		}
		if _, err := b.API.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{
			GroupId: aws.String(group), IpPermissions: groupPermissions(b.id, extra),
		}); err != nil && !clients.IsNotFound(err) && clients.ErrorCode(err) != "InvalidPermission.NotFound" {
			return fmt.Errorf("RevokeSecurityGroupIngress %s from %s: %w", group, b.id, err)
		}
		for _, p := range extra {
			delete(b.open[group], p)
		}
	}
	return nil
}

// delete revokes every rule whose source is the backend group and deletes it. AWS refuses while a
// deleted ALB's interfaces still use it (ErrNotYet): the caller retries.
func (b *Backend) delete(ctx context.Context, vpcID string) error {
	if b.id == "" {
		// Not known in this process: look it up (a restart, or nothing was ever created).
		name := tags.BackendName(b.Cluster)
		out, err := b.API.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{
			{Name: aws.String("group-name"), Values: []string{name}},
			{Name: aws.String("tag:" + tags.Cluster), Values: []string{b.Cluster}},
		}})
		if err != nil {
			return fmt.Errorf("DescribeSecurityGroups named %s: %w", name, err)
		}
		if len(out.SecurityGroups) == 0 {
			return nil
		}
		b.id, b.vpc = aws.ToString(out.SecurityGroups[0].GroupId), aws.ToString(out.SecurityGroups[0].VpcId)
	}
	refs := ec2.NewDescribeSecurityGroupsPaginator(b.API, &ec2.DescribeSecurityGroupsInput{
		Filters: []ec2types.Filter{{Name: aws.String("ip-permission.group-id"), Values: []string{b.id}}},
	})
	for refs.HasMorePages() {
		page, err := refs.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("DescribeSecurityGroups referencing %s: %w", b.id, err)
		}
		for _, g := range page.SecurityGroups {
			ports := slices.Sorted(maps.Keys(RulesFrom(g, b.id)))
			if len(ports) == 0 {
				continue
			}
			if _, err := b.API.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{
				GroupId: g.GroupId, IpPermissions: groupPermissions(b.id, ports),
			}); err != nil {
				return fmt.Errorf("RevokeSecurityGroupIngress %s from %s: %w", aws.ToString(g.GroupId), b.id, err)
			}
		}
	}
	// The rules are gone, whatever happens to the group: an Ensure must open them again.
	b.open = map[string]map[int32]bool{}
	if _, err := b.API.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(b.id)}); err != nil && !clients.IsNotFound(err) {
		return clients.NotYet(fmt.Errorf("DeleteSecurityGroup %s: %w", b.id, err))
	}
	b.id, b.vpc = "", ""
	return nil
}

// Forget drops what is known of the node rules, so the next Ensure reads them (a drift check).
func (b *Backend) Forget() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.open = map[string]map[int32]bool{}
	b.id, b.vpc = "", ""
}

// Copy is a Backend on api that starts from what b knows — the group, the ports each gateway
// needs, the rules open — and changes nothing of b: a dry run plans with it what b would do.
func (b *Backend) Copy(api API) *Backend {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := &Backend{API: api, Cluster: b.Cluster, id: b.id, vpc: b.vpc}
	if b.ports != nil {
		c.ports, c.open = map[string][]int32{}, map[string]map[int32]bool{}
		for k, v := range b.ports {
			c.ports[k] = slices.Clone(v)
		}
		for k, v := range b.open {
			c.open[k] = maps.Clone(v)
		}
	}
	return c
}
