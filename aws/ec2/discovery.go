package ec2

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/istio-alb-operator/istio-alb-operator/aws/model"
)

// Role tags on subnets, as the AWS Load Balancer Controller and EKS use them.
const (
	RoleELB         = "kubernetes.io/role/elb"
	RoleInternalELB = "kubernetes.io/role/internal-elb"
	clusterTagPfx   = "kubernetes.io/cluster/"
)

// Discoverer finds the VPC, subnets and node security group. Answers are cached for TTL, so a
// steady reconcile makes no EC2 call.
type Discoverer struct {
	API         API
	ClusterName string
	// VPCID, when set (--vpc-id), is used instead of the nodes' VPC.
	VPCID string
	TTL   time.Duration
	Now   func() time.Time

	mu        sync.Mutex
	nodeCache map[string]cached[NodeNetwork]
	subnetsBy map[string]cached[[]model.Subnet]
}

type cached[T any] struct {
	value T
	at    time.Time
}

// NodeNetwork is what the nodes' instances tell: their VPC, the node security group and the
// account that owns them.
type NodeNetwork struct {
	VPCID           string
	SecurityGroupID string
	AccountID       string
}

func (d *Discoverer) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Discoverer) fresh(at time.Time) bool { return d.now().Sub(at) < d.TTL }

// NodeNetwork describes the node instances (one call, cached by the set of ids) and returns their
// VPC and the node security group: the only group they share, or else the one tagged for the cluster.
func (d *Discoverer) NodeNetwork(ctx context.Context, instanceIDs []string) (NodeNetwork, error) {
	if len(instanceIDs) == 0 {
		return NodeNetwork{}, fmt.Errorf("no Ready node with an EC2 instance id (spec.providerID aws:///<zone>/<instance-id>)")
	}
	ids := append([]string(nil), instanceIDs...)
	sort.Strings(ids)
	key := strings.Join(ids, ",")
	d.mu.Lock()
	if c, ok := d.nodeCache[key]; ok && d.fresh(c.at) {
		d.mu.Unlock()
		return c.value, nil
	}
	d.mu.Unlock()

	out, err := d.API.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids})
	if err != nil {
		return NodeNetwork{}, fmt.Errorf("DescribeInstances %v: %w", ids, err)
	}
	var nn NodeNetwork
	common := map[string]int{}
	n := 0
	for _, r := range out.Reservations {
		if nn.AccountID == "" {
			nn.AccountID = aws.ToString(r.OwnerId)
		}
		for _, inst := range r.Instances {
			n++
			if d.VPCID == "" && nn.VPCID == "" {
				nn.VPCID = aws.ToString(inst.VpcId)
			}
			seen := map[string]bool{}
			for _, g := range inst.SecurityGroups {
				if id := aws.ToString(g.GroupId); !seen[id] {
					seen[id] = true
					common[id]++
				}
			}
		}
	}
	if d.VPCID != "" {
		nn.VPCID = d.VPCID
	}
	var shared []string
	for id, c := range common {
		if c == n {
			shared = append(shared, id)
		}
	}
	sort.Strings(shared)
	switch {
	case len(shared) == 1:
		nn.SecurityGroupID = shared[0]
	case len(shared) > 1:
		sgs, err := d.API.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: shared})
		if err != nil {
			return NodeNetwork{}, fmt.Errorf("DescribeSecurityGroups %v: %w", shared, err)
		}
		for _, g := range sgs.SecurityGroups {
			if hasTag(g.Tags, clusterTagPfx+d.ClusterName) {
				nn.SecurityGroupID = aws.ToString(g.GroupId)
				break
			}
		}
		if nn.SecurityGroupID == "" {
			return NodeNetwork{}, fmt.Errorf("the nodes share security groups %v and none is tagged %s%s", shared, clusterTagPfx, d.ClusterName)
		}
	default:
		return NodeNetwork{}, fmt.Errorf("the node instances %v share no security group", ids)
	}
	if nn.VPCID == "" {
		return NodeNetwork{}, fmt.Errorf("no VPC found for instances %v; set --vpc-id", ids)
	}
	d.mu.Lock()
	if d.nodeCache == nil {
		d.nodeCache = map[string]cached[NodeNetwork]{}
	}
	d.nodeCache[key] = cached[NodeNetwork]{nn, d.now()}
	d.mu.Unlock()
	return nn, nil
}

// Subnets returns the candidate subnets for an ALB of the given scheme: the named subnets (ids
// or Name tags) that exist in the VPC when names are given, else those tagged with the scheme's
// role tag in the VPC and tagged for this cluster or for no cluster. Choosing among them (one
// per zone, at least two zones) and reporting what is missing is the planner's job. The answer
// is cached for TTL unless fresh asks for a new read.
func (d *Discoverer) Subnets(ctx context.Context, vpcID, scheme string, named []string, fresh bool) ([]model.Subnet, error) {
	key := vpcID + "|" + scheme + "|" + strings.Join(named, ",")
	d.mu.Lock()
	if c, ok := d.subnetsBy[key]; ok && d.fresh(c.at) && !fresh {
		d.mu.Unlock()
		return c.value, nil
	}
	d.mu.Unlock()

	filters := []ec2types.Filter{{Name: aws.String("vpc-id"), Values: []string{vpcID}}}
	var ids, names []string
	for _, s := range named {
		if strings.HasPrefix(s, "subnet-") {
			ids = append(ids, s)
		} else {
			names = append(names, s)
		}
	}
	var found []ec2types.Subnet
	query := func(extra ...ec2types.Filter) error {
		p := ec2.NewDescribeSubnetsPaginator(d.API, &ec2.DescribeSubnetsInput{Filters: append(append([]ec2types.Filter(nil), filters...), extra...)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return fmt.Errorf("DescribeSubnets: %w", err)
			}
			found = append(found, page.Subnets...)
		}
		return nil
	}
	switch {
	case len(named) > 0:
		if len(ids) > 0 {
			if err := query(ec2types.Filter{Name: aws.String("subnet-id"), Values: ids}); err != nil {
				return nil, err
			}
		}
		if len(names) > 0 {
			if err := query(ec2types.Filter{Name: aws.String("tag:Name"), Values: names}); err != nil {
				return nil, err
			}
		}
	default:
		role := RoleELB
		if scheme == "internal" {
			role = RoleInternalELB
		}
		if err := query(ec2types.Filter{Name: aws.String("tag-key"), Values: []string{role}}); err != nil {
			return nil, err
		}
		found = forCluster(found, d.ClusterName)
	}
	var out []model.Subnet
	for _, s := range found {
		sn := model.Subnet{ID: aws.ToString(s.SubnetId), Zone: aws.ToString(s.AvailabilityZone)}
		for _, t := range s.Tags {
			if aws.ToString(t.Key) == "Name" {
				sn.Name = aws.ToString(t.Value)
			}
		}
		if !slices.ContainsFunc(out, func(o model.Subnet) bool { return o.ID == sn.ID }) {
			out = append(out, sn)
		}
	}
	slices.SortFunc(out, func(a, b model.Subnet) int { return strings.Compare(a.ID, b.ID) })
	d.mu.Lock()
	if d.subnetsBy == nil {
		d.subnetsBy = map[string]cached[[]model.Subnet]{}
	}
	d.subnetsBy[key] = cached[[]model.Subnet]{out, d.now()}
	d.mu.Unlock()
	return out, nil
}

// Forget drops the cached answers, so the next call reads EC2 again (used by drift checks).
func (d *Discoverer) Forget() {
	d.mu.Lock()
	d.nodeCache, d.subnetsBy = nil, nil
	d.mu.Unlock()
}

func forCluster(subnets []ec2types.Subnet, cluster string) []ec2types.Subnet {
	var out []ec2types.Subnet
	for _, s := range subnets {
		ours, others := false, false
		for _, t := range s.Tags {
			if k := aws.ToString(t.Key); strings.HasPrefix(k, clusterTagPfx) {
				if k == clusterTagPfx+cluster {
					ours = true
				} else {
					others = true
				}
			}
		}
		if ours || !others {
			out = append(out, s)
		}
	}
	return out
}

func hasTag(ts []ec2types.Tag, key string) bool {
	for _, t := range ts {
		if aws.ToString(t.Key) == key {
			return true
		}
	}
	return false
}
