// Package iampolicy renders the IAM policy the operator needs, scoped to one cluster.
package iampolicy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/istio-alb-operator/istio-alb-operator/aws/tags"
)

// Placeholder is the cluster name of the committed manifests (manifests/install.yaml and
// manifests/iam-policy.json); a user renders the policy again for the real name.
const Placeholder = "my-cluster"

// ELBServiceName is the service whose linked role the first load balancer of an account needs.
const ELBServiceName = "elasticloadbalancing.amazonaws.com"

// Options say which cluster, and which Route53 zones, the policy is for.
type Options struct {
	// ClusterName is the operator's --cluster-name: the value of the istio-alb.io/cluster tag
	// on everything it creates, and the name in the EKS node group tag kubernetes.io/cluster/<name>.
	ClusterName string
	// HostedZoneIDs are the zones records may be written to ("Z123" or "/hostedzone/Z123"); none
	// means every zone of the account.
	HostedZoneIDs []string
}

// Document is an IAM policy document.
type Document struct {
	Version   string
	Statement []Statement
}

// Statement is one statement of a policy. Condition maps an operator (StringEquals, Null,
// ForAnyValue:StringEquals, ...) to condition keys and their values.
type Statement struct {
	Sid       string
	Effect    string
	Action    []string
	Resource  Values
	Condition map[string]map[string]Values `json:",omitempty"`
}

// Values is a list that IAM also accepts as a single string; one value is written as a string.
type Values []string

// MarshalJSON writes one value as a string, more as an array.
func (v Values) MarshalJSON() ([]byte, error) {
	if len(v) == 1 {
		return json.Marshal(v[0])
	}
	return json.Marshal([]string(v))
}

// UnmarshalJSON reads a string or an array of strings.
func (v *Values) UnmarshalJSON(data []byte) error {
	var one string
	if err := json.Unmarshal(data, &one); err == nil {
		*v = Values{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(data, &many); err != nil {
		return err
	}
	*v = many
	return nil
}

// clusterName is what EKS accepts, plus the dots of kops-style names; nothing that could act as
// a wildcard or a policy variable.
var (
	clusterName = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z._-]{0,99}$`)
	zoneID      = regexp.MustCompile(`^[A-Z0-9]{1,32}$`)
)

// The ARNs of the resources the operator creates or changes.
const (
	securityGroups = "arn:aws:ec2:*:*:security-group/*"
	vpcs           = "arn:aws:ec2:*:*:vpc/*"
	loadBalancers  = "arn:aws:elasticloadbalancing:*:*:loadbalancer/app/*/*"
	targetGroups   = "arn:aws:elasticloadbalancing:*:*:targetgroup/*/*"
	// listeners and their rules (listener-rule/app/...): a group member's host rules.
	listeners     = "arn:aws:elasticloadbalancing:*:*:listener*/app/*/*/*"
	certificates  = "arn:aws:acm:*:*:certificate/*"
	elbLinkedRole = "arn:aws:iam::*:role/aws-service-role/" + ELBServiceName + "/AWSServiceRoleForElasticLoadBalancing"
	hostedZoneARN = "arn:aws:route53:::hostedzone/"
	// webACLs are the web ACLs an ALB can be associated with: REGIONAL ones (CloudFront's are
	// global).
	webACLs = "arn:aws:wafv2:*:*:regional/webacl/*/*"
)

// The condition keys.
const (
	requestTag         = "aws:RequestTag/" + tags.Cluster
	resourceTag        = "aws:ResourceTag/" + tags.Cluster
	tagKeys            = "aws:TagKeys"
	ec2CreateAction    = "ec2:CreateAction"
	elbCreateAction    = "elasticloadbalancing:CreateAction"
	nodeGroupTagPrefix = "aws:ResourceTag/kubernetes.io/cluster/"
	serviceName        = "iam:AWSServiceName"
	recordTypes        = "route53:ChangeResourceRecordSetsRecordTypes"
)

// Render returns the policy for one cluster: creates need the request tag istio-alb.io/cluster
// with this cluster's name, changes and deletes need it on the resource, that tag cannot be
// changed or removed after the create, and records go only to the zones given.
func Render(o Options) (Document, error) {
	if !clusterName.MatchString(o.ClusterName) {
		return Document{}, fmt.Errorf("cluster name %q: want letters, digits, '-', '_' or '.', starting with a letter or digit, at most 100 characters", o.ClusterName)
	}
	zones := Values{hostedZoneARN + "*"}
	if len(o.HostedZoneIDs) > 0 {
		zones = nil
		for _, id := range o.HostedZoneIDs {
			id = strings.TrimPrefix(strings.TrimSpace(id), "/hostedzone/")
			if !zoneID.MatchString(id) {
				return Document{}, fmt.Errorf("hosted zone id %q: want a Route53 zone id such as Z0123456789ABCDEFGHIJ", id)
			}
			if arn := hostedZoneARN + id; !slices.Contains(zones, arn) {
				zones = append(zones, arn)
			}
		}
	}
	// Functions, so that no two statements share a map or a slice.
	cluster := func() Values { return Values{o.ClusterName} }
	ours := func() map[string]map[string]Values {
		return map[string]map[string]Values{"StringEquals": {resourceTag: cluster()}}
	}
	creating := func() map[string]map[string]Values {
		return map[string]map[string]Values{"StringEquals": {requestTag: cluster()}}
	}

	return Document{Version: "2012-10-17", Statement: []Statement{
		{
			Sid:    "ReadOnly",
			Effect: "Allow",
			Action: []string{
				"ec2:DescribeInstances", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups",
				"elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeLoadBalancerAttributes",
				"elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetHealth",
				"elasticloadbalancing:DescribeTargetGroupAttributes",
				"elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeListenerCertificates",
				"elasticloadbalancing:DescribeSSLPolicies", "elasticloadbalancing:DescribeTags",
				"elasticloadbalancing:DescribeRules",
				"tag:GetResources",
				"acm:ListCertificates", "acm:DescribeCertificate",
				"route53:ListHostedZones", "route53:ListHostedZonesByVPC",
				"wafv2:GetWebACL", "wafv2:GetWebACLForResource",
			},
			Resource: Values{"*"},
		},
		{
			// RequestCertificate with tags is also authorised as AddTagsToCertificate. ACM has no
			// create-action key, so AddTagsToCertificate cannot be limited to the create; the
			// last deny keeps it off another cluster's certificates.
			Sid:    "CreateWithTheClusterTag",
			Effect: "Allow",
			Action: []string{
				"ec2:CreateSecurityGroup",
				"elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup",
				"acm:AddTagsToCertificate",
			},
			Resource:  Values{securityGroups, loadBalancers, targetGroups, certificates},
			Condition: creating(),
		},
		{
			Sid:       "RequestCertificateWithTheClusterTag",
			Effect:    "Allow",
			Action:    []string{"acm:RequestCertificate"},
			Resource:  Values{"*"}, // RequestCertificate has no resource-level permissions
			Condition: creating(),
		},
		{
			// CreateSecurityGroup is authorised on the VPC too; the group's half carries the tag
			// condition above.
			Sid:      "CreateSecurityGroupInAVPC",
			Effect:   "Allow",
			Action:   []string{"ec2:CreateSecurityGroup"},
			Resource: Values{vpcs},
		},
		{
			Sid:      "TagSecurityGroupOnCreate",
			Effect:   "Allow",
			Action:   []string{"ec2:CreateTags"},
			Resource: Values{securityGroups},
			Condition: map[string]map[string]Values{"StringEquals": {
				ec2CreateAction: {"CreateSecurityGroup"},
				requestTag:      cluster(),
			}},
		},
		{
			Sid:      "TagELBResourcesOnCreate",
			Effect:   "Allow",
			Action:   []string{"elasticloadbalancing:AddTags"},
			Resource: Values{loadBalancers, targetGroups, listeners},
			Condition: map[string]map[string]Values{"StringEquals": {
				elbCreateAction: {"CreateLoadBalancer", "CreateTargetGroup", "CreateListener", "CreateRule"},
				requestTag:      cluster(),
			}},
		},
		{
			// One statement for every change and delete, to stay within the 6,144 characters of
			// a managed policy: each action is matched only against its own resource types
			// (CreateListener against the load balancer it goes on).
			Sid:    "ChangeOnlyThisClustersResources",
			Effect: "Allow",
			Action: []string{
				"ec2:DeleteSecurityGroup", "ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress",
				"ec2:CreateTags",
				"elasticloadbalancing:DeleteLoadBalancer", "elasticloadbalancing:ModifyLoadBalancerAttributes",
				"elasticloadbalancing:SetSubnets", "elasticloadbalancing:SetSecurityGroups",
				"elasticloadbalancing:SetIpAddressType",
				"elasticloadbalancing:DeleteTargetGroup", "elasticloadbalancing:ModifyTargetGroup",
				"elasticloadbalancing:ModifyTargetGroupAttributes",
				"elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets",
				"elasticloadbalancing:CreateListener", "elasticloadbalancing:ModifyListener",
				"elasticloadbalancing:DeleteListener",
				// A group member's host rules (CreateRule against the listener it goes on).
				"elasticloadbalancing:CreateRule", "elasticloadbalancing:ModifyRule",
				"elasticloadbalancing:DeleteRule",
				"elasticloadbalancing:AddListenerCertificates", "elasticloadbalancing:RemoveListenerCertificates",
				"elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags",
				"acm:DeleteCertificate",
				// ELB's permission-only actions that WAF's association calls (and its read of an
				// ALB's web ACL) need on the ALB; the legacy elasticloadbalancing:SetWebAcl takes
				// no resource, so it could not be scoped.
				"elasticloadbalancing:CreateWebACLAssociation", "elasticloadbalancing:DeleteWebACLAssociation",
				"elasticloadbalancing:GetLoadBalancerWebACL",
			},
			Resource:  Values{securityGroups, loadBalancers, targetGroups, listeners, certificates},
			Condition: ours(),
		},
		{
			// The WAFv2 half of a web ACL association. WAF authorises it on the web ACL, which is
			// the user's and carries no tag of ours, and on the ALB, for which WAF has no
			// condition key: ELB's half (its permission-only *WebACLAssociation actions above)
			// is what needs this cluster's tag on the ALB.
			Sid:      "WebACLAssociations",
			Effect:   "Allow",
			Action:   []string{"wafv2:AssociateWebACL", "wafv2:DisassociateWebACL"},
			Resource: Values{webACLs, loadBalancers},
		},
		{
			// The node security group is EKS's, not ours, so it cannot carry our tag. The operator
			// adds and removes there only the rules whose source is its own group (DESIGN §3), but
			// IAM has no condition key for a rule's source: the tightest scope is the groups
			// tagged for this cluster the way EKS tags its cluster security group.
			Sid:      "NodeSecurityGroupRules",
			Effect:   "Allow",
			Action:   []string{"ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"},
			Resource: Values{securityGroups},
			Condition: map[string]map[string]Values{"StringEquals": {
				nodeGroupTagPrefix + o.ClusterName: {"owned", "shared"},
			}},
		},
		{
			// ListResourceRecordSets has no record types in its request; ForAllValues holds for
			// an absent key, so the condition limits only the writes.
			Sid:      "RecordsOnlyInTheGivenZones",
			Effect:   "Allow",
			Action:   []string{"route53:ListResourceRecordSets", "route53:ChangeResourceRecordSets"},
			Resource: zones,
			Condition: map[string]map[string]Values{"ForAllValues:StringEquals": {
				recordTypes: {"A", "AAAA", "CNAME", "TXT"},
			}},
		},
		{
			Sid:       "ELBServiceLinkedRole",
			Effect:    "Allow",
			Action:    []string{"iam:CreateServiceLinkedRole"},
			Resource:  Values{elbLinkedRole},
			Condition: map[string]map[string]Values{"StringEquals": {serviceName: {ELBServiceName}}},
		},
		{
			// The ownership tag is written only by a create, whatever other policy the role has.
			// Both create-action keys must be absent: a request has at most one of them.
			Sid:    "DenyTheClusterTagExceptOnCreate",
			Effect: "Deny",
			Action: []string{
				"ec2:CreateTags", "ec2:DeleteTags",
				"elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags",
				"acm:RemoveTagsFromCertificate",
			},
			Resource: Values{"*"},
			Condition: map[string]map[string]Values{
				"ForAnyValue:StringEquals": {tagKeys: {tags.Cluster}},
				"Null":                     {ec2CreateAction: {"true"}, elbCreateAction: {"true"}},
			},
		},
		{
			// ACM has no create-action key, so this is the certificates' half of the rule above:
			// the allow lets AddTagsToCertificate write only this cluster's name, and this deny
			// refuses it on a certificate another cluster owns. (Not "any owned certificate": a
			// retried RequestCertificate, same idempotency token, returns the tagged one.)
			Sid:      "DenyTaggingAnotherClustersCertificate",
			Effect:   "Deny",
			Action:   []string{"acm:AddTagsToCertificate"},
			Resource: Values{"*"},
			Condition: map[string]map[string]Values{
				"Null":            {resourceTag: {"false"}},
				"StringNotEquals": {resourceTag: cluster()},
			},
		},
	}}, nil
}

// ManagedPolicyLimit is the size IAM allows a customer managed policy, in characters other than
// white space.
const ManagedPolicyLimit = 6144

// Size is the policy's size as IAM counts it against ManagedPolicyLimit.
func (d Document) Size() int {
	data, err := json.Marshal(d)
	if err != nil {
		return 0
	}
	n := 0
	for _, c := range string(data) {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			n++
		}
	}
	return n
}

// JSON is the document as the committed manifests/iam-policy.json is written: two-space
// indentation and a final newline.
func (d Document) JSON() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
