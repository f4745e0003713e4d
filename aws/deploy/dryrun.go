package deploy

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsacm "github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	elbv2sdk "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	awswafv2 "github.com/aws/aws-sdk-go-v2/service/wafv2"

	"github.com/istio-alb-operator/istio-alb-operator/aws/acm"
	"github.com/istio-alb-operator/istio-alb-operator/aws/clients"
	"github.com/istio-alb-operator/istio-alb-operator/aws/dns"
	"github.com/istio-alb-operator/istio-alb-operator/aws/ec2"
	"github.com/istio-alb-operator/istio-alb-operator/aws/elbv2"
	"github.com/istio-alb-operator/istio-alb-operator/aws/wafv2"
)

// Actions of a planned change.
const (
	ActionCreate = "create"
	ActionModify = "modify"
	ActionDelete = "delete"
)

// Change is one write a dry run would have made: one AWS call (Service and Operation as the
// call recorder names them) or one Kubernetes change (Service "Kubernetes").
type Change struct {
	Action    string `json:"action"`
	Service   string `json:"service"`
	Operation string `json:"operation"`
	// Kind is the kind of resource written: security-group, load-balancer, target-group,
	// targets, listener, listener-certificates, tags, web-acl-association, record-sets,
	// certificate, service.
	Kind string `json:"kind"`
	// Resource names it: a name, an ARN or an id (a made-up one for what the run creates).
	Resource string `json:"resource"`
	Detail   string `json:"detail,omitempty"`
}

// Call is the change's AWS call as the call recorder counts it.
func (c Change) Call() clients.Call { return clients.Call{Service: c.Service, Operation: c.Operation} }

func (c Change) String() string {
	s := fmt.Sprintf("%s %s %s (%s.%s)", c.Action, c.Kind, c.Resource, c.Service, c.Operation)
	if c.Detail != "" {
		s += ": " + c.Detail
	}
	return s
}

// DryRun records the writes of a run instead of making them: the wrappers it gives pass every
// read through to AWS and answer every write (clients.IsMutating) with a plausible made-up
// output — a new id or ARN for a create, so that later steps can refer to it.
type DryRun struct {
	// Region and Account make the made-up ARNs look like the account's.
	Region, Account string

	mu      sync.Mutex
	changes []Change
	n       int
}

// dryMark is in every made-up id and ARN; reads of them are answered without AWS.
const dryMark = "dryrun"

// Changes are the writes recorded, in the order they would have been made.
func (d *DryRun) Changes() []Change {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Change(nil), d.changes...)
}

// Add records a change made elsewhere than the wrapped clients (a Kubernetes change).
func (d *DryRun) Add(c Change) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.changes = append(d.changes, c)
}

func (d *DryRun) record(service, op, kind, resource, detail string) {
	action := ActionModify
	switch {
	case hasAnyPrefix(op, "Create", "Request", "Register", "Authorize", "Associate", "Add"):
		action = ActionCreate
	case hasAnyPrefix(op, "Delete", "Deregister", "Revoke", "Disassociate", "Remove"):
		action = ActionDelete
	}
	d.Add(Change{Action: action, Service: service, Operation: op, Kind: kind, Resource: resource, Detail: detail})
}

func hasAnyPrefix(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// id makes up a unique id with the dry-run mark.
func (d *DryRun) id() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.n++
	return fmt.Sprintf("%s%08d", dryMark, d.n)
}

func (d *DryRun) arn(service, resource string) string {
	region, account := d.Region, d.Account
	if region == "" {
		region = "us-east-1"
	}
	if account == "" {
		account = "000000000000"
	}
	return fmt.Sprintf("arn:aws:%s:%s:%s:%s", service, region, account, resource)
}

func isDry(s *string) bool { return strings.Contains(aws.ToString(s), dryMark) }

// Deployer is a deployer whose writes go to the dry run; the backend security group starts from
// what the real one knows, in a copy (it must not learn made-up ids).
func (d *DryRun) Deployer(real *Deployer) *Deployer {
	out := &Deployer{Tagging: real.Tagging, EC2: d.EC2(real.EC2), ELBV2: d.ELBV2(real.ELBV2)}
	if real.WAFV2 != nil {
		out.WAFV2 = d.WAFV2(real.WAFV2)
	}
	if real.Backend != nil {
		out.Backend = real.Backend.Copy(out.EC2)
	}
	return out
}

// EC2 wraps an EC2 API.
func (d *DryRun) EC2(api ec2.API) ec2.API { return &dryEC2{API: api, d: d} }

// ELBV2 wraps an ELBv2 API.
func (d *DryRun) ELBV2(api elbv2.API) elbv2.API { return &dryELBV2{API: api, d: d} }

// WAFV2 wraps a WAFv2 API.
func (d *DryRun) WAFV2(api wafv2.API) wafv2.API { return &dryWAFV2{API: api, d: d} }

// Route53 wraps a Route53 API: the record changes external-dns's plan and TXT registry would
// write are recorded, one change per call.
func (d *DryRun) Route53(api dns.API) dns.API { return &dryRoute53{API: api, d: d} }

// ACM wraps an ACM API.
func (d *DryRun) ACM(api acm.API) acm.API { return &dryACM{API: api, d: d} }

type dryEC2 struct {
	ec2.API
	d *DryRun
}

const svcEC2, svcELBV2 = awsec2.ServiceID, elbv2sdk.ServiceID

func (c *dryEC2) DescribeSecurityGroups(ctx context.Context, in *awsec2.DescribeSecurityGroupsInput, o ...func(*awsec2.Options)) (*awsec2.DescribeSecurityGroupsOutput, error) {
	for _, id := range in.GroupIds {
		if strings.Contains(id, dryMark) {
			return &awsec2.DescribeSecurityGroupsOutput{}, nil
		}
	}
	return c.API.DescribeSecurityGroups(ctx, in, o...)
}

func (c *dryEC2) CreateSecurityGroup(_ context.Context, in *awsec2.CreateSecurityGroupInput, _ ...func(*awsec2.Options)) (*awsec2.CreateSecurityGroupOutput, error) {
	id := "sg-" + c.d.id()
	c.d.record(svcEC2, "CreateSecurityGroup", "security-group", aws.ToString(in.GroupName), "in "+aws.ToString(in.VpcId))
	return &awsec2.CreateSecurityGroupOutput{GroupId: aws.String(id)}, nil
}

func (c *dryEC2) DeleteSecurityGroup(_ context.Context, in *awsec2.DeleteSecurityGroupInput, _ ...func(*awsec2.Options)) (*awsec2.DeleteSecurityGroupOutput, error) {
	c.d.record(svcEC2, "DeleteSecurityGroup", "security-group", aws.ToString(in.GroupId), "")
	return &awsec2.DeleteSecurityGroupOutput{}, nil
}

func (c *dryEC2) AuthorizeSecurityGroupIngress(_ context.Context, in *awsec2.AuthorizeSecurityGroupIngressInput, _ ...func(*awsec2.Options)) (*awsec2.AuthorizeSecurityGroupIngressOutput, error) {
	c.d.record(svcEC2, "AuthorizeSecurityGroupIngress", "security-group-rules", aws.ToString(in.GroupId), fmt.Sprintf("%d permissions", len(in.IpPermissions)))
	return &awsec2.AuthorizeSecurityGroupIngressOutput{Return: aws.Bool(true)}, nil
}

func (c *dryEC2) RevokeSecurityGroupIngress(_ context.Context, in *awsec2.RevokeSecurityGroupIngressInput, _ ...func(*awsec2.Options)) (*awsec2.RevokeSecurityGroupIngressOutput, error) {
	c.d.record(svcEC2, "RevokeSecurityGroupIngress", "security-group-rules", aws.ToString(in.GroupId), fmt.Sprintf("%d permissions", len(in.IpPermissions)))
	return &awsec2.RevokeSecurityGroupIngressOutput{Return: aws.Bool(true)}, nil
}

func (c *dryEC2) CreateTags(_ context.Context, in *awsec2.CreateTagsInput, _ ...func(*awsec2.Options)) (*awsec2.CreateTagsOutput, error) {
	c.d.record(svcEC2, "CreateTags", "tags", strings.Join(in.Resources, ","), fmt.Sprintf("%d tags", len(in.Tags)))
	return &awsec2.CreateTagsOutput{}, nil
}

type dryELBV2 struct {
	elbv2.API
	d *DryRun
}

func (c *dryELBV2) CreateLoadBalancer(_ context.Context, in *elbv2sdk.CreateLoadBalancerInput, _ ...func(*elbv2sdk.Options)) (*elbv2sdk.CreateLoadBalancerOutput, error) {
	id := c.d.id()
	name := aws.ToString(in.Name)
	c.d.record(svcELBV2, "CreateLoadBalancer", "load-balancer", name, string(in.Scheme))
	return &elbv2sdk.CreateLoadBalancerOutput{LoadBalancers: []elbv2types.LoadBalancer{{
		LoadBalancerArn:       aws.String(c.d.arn("elasticloadbalancing", "loadbalancer/app/"+name+"/"+id)),
		LoadBalancerName:      in.Name,
		DNSName:               aws.String(name + "-" + id + "." + c.d.Region + ".elb.amazonaws.com"),
		CanonicalHostedZoneId: aws.String("Z" + strings.ToUpper(id)),
		Scheme:                in.Scheme,
		Type:                  in.Type,
		IpAddressType:         in.IpAddressType,
		SecurityGroups:        in.SecurityGroups,
		State:                 &elbv2types.LoadBalancerState{Code: elbv2types.LoadBalancerStateEnumActive},
	}}}, nil
}

func (c *dryELBV2) DeleteLoadBalancer(_ context.Context, in *elbv2sdk.DeleteLoadBalancerInput, _ ...func(*elbv2sdk.Options)) (*elbv2sdk.DeleteLoadBalancerOutput, error) {
	c.d.record(svcELBV2, "DeleteLoadBalancer", "load-balancer", aws.ToString(in.LoadBalancerArn), "")
	return &elbv2sdk.DeleteLoadBalancerOutput{}, nil
}

func (c *dryELBV2) SetSubnets(_ context.Context, in *elbv2sdk.SetSubnetsInput, _ ...func(*elbv2sdk.Options)) (*elbv2sdk.SetSubnetsOutput, error) {
	c.d.record(svcELBV2, "SetSubnets", "load-balancer", aws.ToString(in.LoadBalancerArn), "subnets "+strings.Join(in.Subnets, ","))
	return &elbv2sdk.SetSubnetsOutput{}, nil
}

func (c *dryELBV2) SetSecurityGroups(_ context.Context, in *elbv2sdk.SetSecurityGroupsInput, _ ...func(*elbv2sdk.Options)) (*elbv2sdk.SetSecurityGroupsOutput, error) {
	c.d.record(svcELBV2, "SetSecurityGroups", "load-balancer", aws.ToString(in.LoadBalancerArn), "security groups "+strings.Join(in.SecurityGroups, ","))
	return &elbv2sdk.SetSecurityGroupsOutput{SecurityGroupIds: in.SecurityGroups}, nil
}

func (c *dryELBV2) SetIpAddressType(_ context.Context, in *elbv2sdk.SetIpAddressTypeInput, _ ...func(*elbv2sdk.Options)) (*elbv2sdk.SetIpAddressTypeOutput, error) {
	c.d.record(svcELBV2, "SetIpAddressType", "load-balancer", aws.ToString(in.LoadBalancerArn), string(in.IpAddressType))
	return &elbv2sdk.SetIpAddressTypeOutput{IpAddressType: in.IpAddressType}, nil
}

func (c *dryELBV2) ModifyLoadBalancerAttributes(_ context.Context, in *elbv2sdk.ModifyLoadBalancerAttributesInput, _ ...func(*elbv2sdk.Options)) (*elbv2sdk.ModifyLoadBalancerAttributesOutput, error) {
	var kv []string
	for _, a := range in.Attributes {
		kv = append(kv, aws.ToString(a.Key)+"="+aws.ToString(a.Value))
	}
	c.d.record(svcELBV2, "ModifyLoadBalancerAttributes", "load-balancer-attributes", aws.ToString(in.LoadBalancerArn), strings.Join(kv, ","))
	return &elbv2sdk.ModifyLoadBalancerAttributesOutput{Attributes: in.Attributes}, nil
}

func (c *dryELBV2) CreateTargetGroup(_ context.Context, in *elbv2sdk.CreateTargetGroupInput, _ ...func(*elbv2sdk.Options)) (*elbv2sdk.CreateTargetGroupOutput, error) {
	name := aws.ToString(in.Name)
	c.d.record(svcELBV2, "CreateTargetGroup", "target-group", name, fmt.Sprintf("%s:%d %s", in.Protocol, aws.ToInt32(in.Port), in.TargetType))
	return &elbv2sdk.CreateTargetGroupOutput{TargetGroups: []elbv2types.TargetGroup{{
		TargetGroupArn:  aws.String(c.d.arn("elasticloadbalancing", "targetgroup/"+name+"/"+c.d.id())),
		TargetGroupName: in.Name, Port: in.Port, Protocol: in.Protocol, ProtocolVersion: in.ProtocolVersion,
		TargetType: in.TargetType, VpcId: in.VpcId, HealthCheckPath: in.HealthCheckPath, HealthCheckPort: in.HealthCheckPort,
		HealthCheckProtocol: in.HealthCheckProtocol, HealthCheckIntervalSeconds: in.HealthCheckIntervalSeconds,
		HealthCheckTimeoutSeconds: in.HealthCheckTimeoutSeconds, HealthyThresholdCount: in.HealthyThresholdCount,
		UnhealthyThresholdCount: in.UnhealthyThresholdCount, Matcher: in.Matcher,
	}}}, nil
}

func (c *dryELBV2) DeleteTargetGroup(_ context.Context, in *elbv2sdk.DeleteTargetGroupInput, _ ...func(*elbv2sdk.Options)) (*elbv2sdk.DeleteTargetGroupOutput, error) {
	c.d.record(svcELBV2, "DeleteTargetGroup", "target-group", aws.ToString(in.TargetGroupArn), "")
	return &elbv2sdk.DeleteTargetGroupOutput{}, nil
}

func (c *dryELBV2) ModifyTargetGroup(_ context.Context, in *elbv2sdk.ModifyTargetGroupInput, _ ...func(*elbv2sdk.Options)) (*elbv2sdk.ModifyTargetGroupOutput, error) {
	c.d.record(svcELBV2, "ModifyTargetGroup", "target-group", aws.ToString(in.TargetGroupArn), "health check")
	return &elbv2sdk.ModifyTargetGroupOutput{}, nil
}

func targetList(ts []elbv2types.TargetDescription) string {
	var out []string
	for _, t := range ts {
		out = append(out, fmt.Sprintf("%s:%d", aws.ToString(t.Id), aws.ToInt32(t.Port)))
	}
	return strings.Join(out, ",")
}

func (c *dryELBV2) RegisterTargets(_ context.Context, in *elbv2sdk.RegisterTargetsInput, _ ...func(*elbv2sdk.Options)) (*elbv2sdk.RegisterTargetsOutput, error) {
	c.d.record(svcELBV2, "RegisterTargets", "targets", aws.ToString(in.TargetGroupArn), targetList(in.Targets))
	return &elbv2sdk.RegisterTargetsOutput{}, nil
}

func (c *dryELBV2) DeregisterTargets(_ context.Context, in *elbv2sdk.DeregisterTargetsInput, _ ...func(*elbv2sdk.Options)) (*elbv2sdk.DeregisterTargetsOutput, error) {
	c.d.record(svcELBV2, "DeregisterTargets", "targets", aws.ToString(in.TargetGroupArn), targetList(in.Targets))
	return &elbv2sdk.DeregisterTargetsOutput{}, nil
}

func (c *dryELBV2) ModifyTargetGroupAttributes(_ context.Context, in *elbv2sdk.ModifyTargetGroupAttributesInput, _ ...func(*elbv2sdk.Options)) (*elbv2sdk.ModifyTargetGroupAttributesOutput, error) {
	var kv []string
	for _, a := range in.Attributes {
		kv = append(kv, aws.ToString(a.Key)+"="+aws.ToString(a.Value))
	}
	c.d.record(svcELBV2, "ModifyTargetGroupAttributes", "target-group-attributes", aws.ToString(in.TargetGroupArn), strings.Join(kv, ","))
	return &elbv2sdk.ModifyTargetGroupAttributesOutput{Attributes: in.Attributes}, nil
}

func (c *dryELBV2) CreateListener(_ context.Context, in *elbv2sdk.CreateListenerInput, _ ...func(*elbv2sdk.Options)) (*elbv2sdk.CreateListenerOutput, error) {
	c.d.record(svcELBV2, "CreateListener", "listener", fmt.Sprintf("%s:%d on %s", in.Protocol, aws.ToInt32(in.Port), aws.ToString(in.LoadBalancerArn)), "")
	return &elbv2sdk.CreateListenerOutput{Listeners: []elbv2types.Listener{{
		ListenerArn:     aws.String(c.d.arn("elasticloadbalancing", "listener/app/"+c.d.id())),
		LoadBalancerArn: in.LoadBalancerArn, Port: in.Port, Protocol: in.Protocol, SslPolicy: in.SslPolicy,
		Certificates: in.Certificates, DefaultActions: in.DefaultActions,
	}}}, nil
}

func (c *dryELBV2) DeleteListener(_ context.Context, in *elbv2sdk.DeleteListenerInput, _ ...func(*elbv2sdk.Options)) (*elbv2sdk.DeleteListenerOutput, error) {
	c.d.record(svcELBV2, "DeleteListener", "listener", aws.ToString(in.ListenerArn), "")
	return &elbv2sdk.DeleteListenerOutput{}, nil
}

func (c *dryELBV2) ModifyListener(_ context.Context, in *elbv2sdk.ModifyListenerInput, _ ...func(*elbv2sdk.Options)) (*elbv2sdk.ModifyListenerOutput, error) {
	c.d.record(svcELBV2, "ModifyListener", "listener", aws.ToString(in.ListenerArn), "")
	return &elbv2sdk.ModifyListenerOutput{}, nil
}

func certList(cs []elbv2types.Certificate) string {
	var out []string
	for _, c := range cs {
		out = append(out, aws.ToString(c.CertificateArn))
	}
	return strings.Join(out, ",")
}

func (c *dryELBV2) AddListenerCertificates(_ context.Context, in *elbv2sdk.AddListenerCertificatesInput, _ ...func(*elbv2sdk.Options)) (*elbv2sdk.AddListenerCertificatesOutput, error) {
	c.d.record(svcELBV2, "AddListenerCertificates", "listener-certificates", aws.ToString(in.ListenerArn), certList(in.Certificates))
	return &elbv2sdk.AddListenerCertificatesOutput{Certificates: in.Certificates}, nil
}

func (c *dryELBV2) RemoveListenerCertificates(_ context.Context, in *elbv2sdk.RemoveListenerCertificatesInput, _ ...func(*elbv2sdk.Options)) (*elbv2sdk.RemoveListenerCertificatesOutput, error) {
	c.d.record(svcELBV2, "RemoveListenerCertificates", "listener-certificates", aws.ToString(in.ListenerArn), certList(in.Certificates))
	return &elbv2sdk.RemoveListenerCertificatesOutput{}, nil
}

func (c *dryELBV2) AddTags(_ context.Context, in *elbv2sdk.AddTagsInput, _ ...func(*elbv2sdk.Options)) (*elbv2sdk.AddTagsOutput, error) {
	c.d.record(svcELBV2, "AddTags", "tags", strings.Join(in.ResourceArns, ","), fmt.Sprintf("%d tags", len(in.Tags)))
	return &elbv2sdk.AddTagsOutput{}, nil
}

func (c *dryELBV2) RemoveTags(_ context.Context, in *elbv2sdk.RemoveTagsInput, _ ...func(*elbv2sdk.Options)) (*elbv2sdk.RemoveTagsOutput, error) {
	c.d.record(svcELBV2, "RemoveTags", "tags", strings.Join(in.ResourceArns, ","), strings.Join(in.TagKeys, ","))
	return &elbv2sdk.RemoveTagsOutput{}, nil
}

// Reads of what the dry run made up: nothing exists yet.

func (c *dryELBV2) DescribeListeners(ctx context.Context, in *elbv2sdk.DescribeListenersInput, o ...func(*elbv2sdk.Options)) (*elbv2sdk.DescribeListenersOutput, error) {
	if isDry(in.LoadBalancerArn) {
		return &elbv2sdk.DescribeListenersOutput{}, nil
	}
	return c.API.DescribeListeners(ctx, in, o...)
}

func (c *dryELBV2) DescribeRules(ctx context.Context, in *elbv2sdk.DescribeRulesInput, o ...func(*elbv2sdk.Options)) (*elbv2sdk.DescribeRulesOutput, error) {
	if isDry(in.ListenerArn) {
		return &elbv2sdk.DescribeRulesOutput{}, nil
	}
	return c.API.DescribeRules(ctx, in, o...)
}

func (c *dryELBV2) DescribeListenerCertificates(ctx context.Context, in *elbv2sdk.DescribeListenerCertificatesInput, o ...func(*elbv2sdk.Options)) (*elbv2sdk.DescribeListenerCertificatesOutput, error) {
	if isDry(in.ListenerArn) {
		return &elbv2sdk.DescribeListenerCertificatesOutput{}, nil
	}
	return c.API.DescribeListenerCertificates(ctx, in, o...)
}

func (c *dryELBV2) DescribeTargetHealth(ctx context.Context, in *elbv2sdk.DescribeTargetHealthInput, o ...func(*elbv2sdk.Options)) (*elbv2sdk.DescribeTargetHealthOutput, error) {
	if isDry(in.TargetGroupArn) {
		return &elbv2sdk.DescribeTargetHealthOutput{}, nil
	}
	return c.API.DescribeTargetHealth(ctx, in, o...)
}

func (c *dryELBV2) DescribeLoadBalancerAttributes(ctx context.Context, in *elbv2sdk.DescribeLoadBalancerAttributesInput, o ...func(*elbv2sdk.Options)) (*elbv2sdk.DescribeLoadBalancerAttributesOutput, error) {
	if isDry(in.LoadBalancerArn) {
		return &elbv2sdk.DescribeLoadBalancerAttributesOutput{}, nil
	}
	return c.API.DescribeLoadBalancerAttributes(ctx, in, o...)
}

func (c *dryELBV2) DescribeTargetGroupAttributes(ctx context.Context, in *elbv2sdk.DescribeTargetGroupAttributesInput, o ...func(*elbv2sdk.Options)) (*elbv2sdk.DescribeTargetGroupAttributesOutput, error) {
	if isDry(in.TargetGroupArn) {
		return &elbv2sdk.DescribeTargetGroupAttributesOutput{}, nil
	}
	return c.API.DescribeTargetGroupAttributes(ctx, in, o...)
}

type dryWAFV2 struct {
	wafv2.API
	d *DryRun
}

func (c *dryWAFV2) GetWebACLForResource(ctx context.Context, in *awswafv2.GetWebACLForResourceInput, o ...func(*awswafv2.Options)) (*awswafv2.GetWebACLForResourceOutput, error) {
	if isDry(in.ResourceArn) {
		return &awswafv2.GetWebACLForResourceOutput{}, nil
	}
	return c.API.GetWebACLForResource(ctx, in, o...)
}

func (c *dryWAFV2) AssociateWebACL(_ context.Context, in *awswafv2.AssociateWebACLInput, _ ...func(*awswafv2.Options)) (*awswafv2.AssociateWebACLOutput, error) {
	c.d.record(awswafv2.ServiceID, "AssociateWebACL", "web-acl-association", aws.ToString(in.ResourceArn), aws.ToString(in.WebACLArn))
	return &awswafv2.AssociateWebACLOutput{}, nil
}

func (c *dryWAFV2) DisassociateWebACL(_ context.Context, in *awswafv2.DisassociateWebACLInput, _ ...func(*awswafv2.Options)) (*awswafv2.DisassociateWebACLOutput, error) {
	c.d.record(awswafv2.ServiceID, "DisassociateWebACL", "web-acl-association", aws.ToString(in.ResourceArn), "")
	return &awswafv2.DisassociateWebACLOutput{}, nil
}

type dryRoute53 struct {
	dns.API
	d *DryRun
}

func (c *dryRoute53) ChangeResourceRecordSets(_ context.Context, in *route53.ChangeResourceRecordSetsInput, _ ...func(*route53.Options)) (*route53.ChangeResourceRecordSetsOutput, error) {
	var changes []string
	if in.ChangeBatch != nil {
		for _, ch := range in.ChangeBatch.Changes {
			if ch.ResourceRecordSet == nil {
				continue
			}
			changes = append(changes, fmt.Sprintf("%s %s %s", ch.Action, strings.TrimSuffix(aws.ToString(ch.ResourceRecordSet.Name), "."), ch.ResourceRecordSet.Type))
		}
	}
	c.d.record(route53.ServiceID, "ChangeResourceRecordSets", "record-sets", "hostedzone/"+aws.ToString(in.HostedZoneId), strings.Join(changes, ", "))
	return &route53.ChangeResourceRecordSetsOutput{ChangeInfo: &r53types.ChangeInfo{Id: aws.String("/change/" + c.d.id()), Status: r53types.ChangeStatusInsync}}, nil
}

type dryACM struct {
	acm.API
	d *DryRun
}

func (c *dryACM) RequestCertificate(_ context.Context, in *awsacm.RequestCertificateInput, _ ...func(*awsacm.Options)) (*awsacm.RequestCertificateOutput, error) {
	c.d.record(awsacm.ServiceID, "RequestCertificate", "certificate", aws.ToString(in.DomainName), strings.Join(in.SubjectAlternativeNames, ","))
	return &awsacm.RequestCertificateOutput{CertificateArn: aws.String(c.d.arn("acm", "certificate/"+c.d.id()))}, nil
}

func (c *dryACM) DeleteCertificate(_ context.Context, in *awsacm.DeleteCertificateInput, _ ...func(*awsacm.Options)) (*awsacm.DeleteCertificateOutput, error) {
	c.d.record(awsacm.ServiceID, "DeleteCertificate", "certificate", aws.ToString(in.CertificateArn), "")
	return &awsacm.DeleteCertificateOutput{}, nil
}

func (c *dryACM) DescribeCertificate(ctx context.Context, in *awsacm.DescribeCertificateInput, o ...func(*awsacm.Options)) (*awsacm.DescribeCertificateOutput, error) {
	if isDry(in.CertificateArn) {
		// ACM computes the validation records a few seconds after a request.
		return &awsacm.DescribeCertificateOutput{Certificate: &acmtypes.CertificateDetail{
			CertificateArn: in.CertificateArn, Status: acmtypes.CertificateStatusPendingValidation}}, nil
	}
	return c.API.DescribeCertificate(ctx, in, o...)
}

// Summary counts the changes: "12 changes (10 create, 2 modify, 0 delete)".
func Summary(changes []Change) string {
	n := map[string]int{}
	for _, c := range changes {
		n[c.Action]++
	}
	noun := "changes"
	if len(changes) == 1 {
		noun = "change"
	}
	return fmt.Sprintf("%d %s (%d create, %d modify, %d delete)", len(changes), noun, n[ActionCreate], n[ActionModify], n[ActionDelete])
}

// FormatChanges renders the changes one a line, "- <action> <kind> <resource> (<service>
// <operation>): <detail>", within limit bytes: the lines that do not fit are counted in a last
// line instead.
func FormatChanges(changes []Change, limit int) string {
	var b strings.Builder
	b.WriteString(Summary(changes))
	for i, c := range changes {
		line := fmt.Sprintf("\n- %s %s %s (%s %s)", c.Action, c.Kind, c.Resource, c.Service, c.Operation)
		if c.Detail != "" {
			line += ": " + c.Detail
		}
		more := fmt.Sprintf("\n... and %d more", len(changes)-i)
		if limit > 0 && b.Len()+len(line)+len(more) > limit {
			b.WriteString(more)
			break
		}
		b.WriteString(line)
	}
	return b.String()
}

func (c *dryELBV2) CreateRule(_ context.Context, in *elbv2sdk.CreateRuleInput, _ ...func(*elbv2sdk.Options)) (*elbv2sdk.CreateRuleOutput, error) {
	c.d.record(svcELBV2, "CreateRule", "listener-rule", fmt.Sprintf("priority %d on %s", aws.ToInt32(in.Priority), aws.ToString(in.ListenerArn)), "")
	return &elbv2sdk.CreateRuleOutput{Rules: []elbv2types.Rule{{
		RuleArn:  aws.String(c.d.arn("elasticloadbalancing", "listener-rule/app/"+c.d.id())),
		Priority: aws.String(fmt.Sprint(aws.ToInt32(in.Priority))), Conditions: in.Conditions, Actions: in.Actions,
	}}}, nil
}

func (c *dryELBV2) ModifyRule(_ context.Context, in *elbv2sdk.ModifyRuleInput, _ ...func(*elbv2sdk.Options)) (*elbv2sdk.ModifyRuleOutput, error) {
	c.d.record(svcELBV2, "ModifyRule", "listener-rule", aws.ToString(in.RuleArn), "")
	return &elbv2sdk.ModifyRuleOutput{Rules: []elbv2types.Rule{{RuleArn: in.RuleArn, Conditions: in.Conditions, Actions: in.Actions}}}, nil
}

func (c *dryELBV2) DeleteRule(_ context.Context, in *elbv2sdk.DeleteRuleInput, _ ...func(*elbv2sdk.Options)) (*elbv2sdk.DeleteRuleOutput, error) {
	c.d.record(svcELBV2, "DeleteRule", "listener-rule", aws.ToString(in.RuleArn), "")
	return &elbv2sdk.DeleteRuleOutput{}, nil
}
