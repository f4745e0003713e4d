package iampolicy_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/istio-alb-operator/istio-alb-operator/aws/iampolicy"
)

func render(t *testing.T, o iampolicy.Options) iampolicy.Document {
	t.Helper()
	doc, err := iampolicy.Render(o)
	if err != nil {
		t.Fatal(err)
	}
	// Check what IAM would read: the JSON, parsed back.
	data, err := doc.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var back iampolicy.Document
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatalf("the rendered policy does not parse back: %v", err)
	}
	return back
}

// grant is one way a statement names an action: its effect, resources and one condition.
type grant struct {
	effect    string
	resources []string
	operator  string // "" when the statement has no condition
	key       string
	values    []string
	sid       string
}

func grantsOf(doc iampolicy.Document, action string) []grant {
	var out []grant
	for _, s := range doc.Statement {
		if !slices.Contains(s.Action, action) {
			continue
		}
		if len(s.Condition) == 0 {
			out = append(out, grant{effect: s.Effect, resources: s.Resource, sid: s.Sid})
		}
		for op, keys := range s.Condition {
			for k, v := range keys {
				out = append(out, grant{effect: s.Effect, resources: s.Resource, operator: op, key: k, values: v, sid: s.Sid})
			}
		}
	}
	return out
}

func TestTheStatementsOfClusterBlueWithZoneZ123(t *testing.T) {
	doc := render(t, iampolicy.Options{ClusterName: "blue", HostedZoneIDs: []string{"Z123"}})
	const (
		requestTag  = "aws:RequestTag/istio-alb.io/cluster"
		resourceTag = "aws:ResourceTag/istio-alb.io/cluster"
		sgs         = "arn:aws:ec2:*:*:security-group/*"
		lbs         = "arn:aws:elasticloadbalancing:*:*:loadbalancer/app/*/*"
		tgs         = "arn:aws:elasticloadbalancing:*:*:targetgroup/*/*"
		lis         = "arn:aws:elasticloadbalancing:*:*:listener*/app/*/*/*"
		certs       = "arn:aws:acm:*:*:certificate/*"
		zone        = "arn:aws:route53:::hostedzone/Z123"
		webACLs     = "arn:aws:wafv2:*:*:regional/webacl/*/*"
	)
	for _, c := range []struct {
		action   string
		effect   string
		operator string
		key      string
		value    string
		resource string // one of the statement's resources; "" for any
	}{
		// Creates carry this cluster's name as a request tag.
		{"ec2:CreateSecurityGroup", "Allow", "StringEquals", requestTag, "blue", sgs},
		{"elasticloadbalancing:CreateLoadBalancer", "Allow", "StringEquals", requestTag, "blue", lbs},
		{"elasticloadbalancing:CreateTargetGroup", "Allow", "StringEquals", requestTag, "blue", tgs},
		{"acm:RequestCertificate", "Allow", "StringEquals", requestTag, "blue", "*"},
		// Tag on create.
		{"ec2:CreateTags", "Allow", "StringEquals", "ec2:CreateAction", "CreateSecurityGroup", sgs},
		{"ec2:CreateTags", "Allow", "StringEquals", requestTag, "blue", sgs},
		{"elasticloadbalancing:AddTags", "Allow", "StringEquals", "elasticloadbalancing:CreateAction", "CreateLoadBalancer", lbs},
		{"elasticloadbalancing:AddTags", "Allow", "StringEquals", "elasticloadbalancing:CreateAction", "CreateTargetGroup", tgs},
		{"elasticloadbalancing:AddTags", "Allow", "StringEquals", "elasticloadbalancing:CreateAction", "CreateListener", lis},
		{"elasticloadbalancing:AddTags", "Allow", "StringEquals", requestTag, "blue", lis},
		// Certificate tagging: only with this cluster's name, never on another cluster's.
		{"acm:AddTagsToCertificate", "Allow", "StringEquals", requestTag, "blue", certs},
		{"acm:AddTagsToCertificate", "Deny", "StringNotEquals", resourceTag, "blue", "*"},
		{"acm:AddTagsToCertificate", "Deny", "Null", resourceTag, "false", "*"},
		// Changes and deletes need this cluster's name on the resource.
		{"ec2:DeleteSecurityGroup", "Allow", "StringEquals", resourceTag, "blue", sgs},
		{"ec2:AuthorizeSecurityGroupIngress", "Allow", "StringEquals", resourceTag, "blue", sgs},
		{"ec2:RevokeSecurityGroupIngress", "Allow", "StringEquals", resourceTag, "blue", sgs},
		{"ec2:CreateTags", "Allow", "StringEquals", resourceTag, "blue", sgs},
		{"elasticloadbalancing:DeleteLoadBalancer", "Allow", "StringEquals", resourceTag, "blue", lbs},
		{"elasticloadbalancing:ModifyLoadBalancerAttributes", "Allow", "StringEquals", resourceTag, "blue", lbs},
		{"elasticloadbalancing:SetSubnets", "Allow", "StringEquals", resourceTag, "blue", lbs},
		{"elasticloadbalancing:SetSecurityGroups", "Allow", "StringEquals", resourceTag, "blue", lbs},
		{"elasticloadbalancing:SetIpAddressType", "Allow", "StringEquals", resourceTag, "blue", lbs},
		{"elasticloadbalancing:DeleteTargetGroup", "Allow", "StringEquals", resourceTag, "blue", tgs},
		{"elasticloadbalancing:ModifyTargetGroup", "Allow", "StringEquals", resourceTag, "blue", tgs},
		{"elasticloadbalancing:RegisterTargets", "Allow", "StringEquals", resourceTag, "blue", tgs},
		{"elasticloadbalancing:DeregisterTargets", "Allow", "StringEquals", resourceTag, "blue", tgs},
		{"elasticloadbalancing:CreateListener", "Allow", "StringEquals", resourceTag, "blue", lbs},
		{"elasticloadbalancing:ModifyListener", "Allow", "StringEquals", resourceTag, "blue", lis},
		{"elasticloadbalancing:DeleteListener", "Allow", "StringEquals", resourceTag, "blue", lis},
		{"elasticloadbalancing:AddListenerCertificates", "Allow", "StringEquals", resourceTag, "blue", lis},
		{"elasticloadbalancing:RemoveListenerCertificates", "Allow", "StringEquals", resourceTag, "blue", lis},
		{"elasticloadbalancing:AddTags", "Allow", "StringEquals", resourceTag, "blue", lbs},
		{"elasticloadbalancing:RemoveTags", "Allow", "StringEquals", resourceTag, "blue", lbs},
		{"acm:DeleteCertificate", "Allow", "StringEquals", resourceTag, "blue", certs},
		// Web ACL associations: WAF's half on regional web ACLs and ALBs (no key for a tag of
		// ours), ELB's half (reading an ALB's web ACL too) only on this cluster's ALBs.
		{"wafv2:GetWebACL", "Allow", "", "", "", "*"},
		{"wafv2:GetWebACLForResource", "Allow", "", "", "", "*"},
		{"wafv2:AssociateWebACL", "Allow", "", "", "", webACLs},
		{"wafv2:AssociateWebACL", "Allow", "", "", "", lbs},
		{"wafv2:DisassociateWebACL", "Allow", "", "", "", lbs},
		{"elasticloadbalancing:CreateWebACLAssociation", "Allow", "StringEquals", resourceTag, "blue", lbs},
		{"elasticloadbalancing:DeleteWebACLAssociation", "Allow", "StringEquals", resourceTag, "blue", lbs},
		{"elasticloadbalancing:GetLoadBalancerWebACL", "Allow", "StringEquals", resourceTag, "blue", lbs},
		// The node security group: EKS's tag for this cluster, not ours.
		{"ec2:AuthorizeSecurityGroupIngress", "Allow", "StringEquals", "aws:ResourceTag/kubernetes.io/cluster/blue", "owned", sgs},
		{"ec2:RevokeSecurityGroupIngress", "Allow", "StringEquals", "aws:ResourceTag/kubernetes.io/cluster/blue", "shared", sgs},
		// The ownership tag cannot be set, changed or removed except by a create.
		{"ec2:CreateTags", "Deny", "ForAnyValue:StringEquals", "aws:TagKeys", "istio-alb.io/cluster", "*"},
		{"ec2:CreateTags", "Deny", "Null", "ec2:CreateAction", "true", "*"},
		{"ec2:DeleteTags", "Deny", "ForAnyValue:StringEquals", "aws:TagKeys", "istio-alb.io/cluster", "*"},
		{"elasticloadbalancing:AddTags", "Deny", "ForAnyValue:StringEquals", "aws:TagKeys", "istio-alb.io/cluster", "*"},
		{"elasticloadbalancing:AddTags", "Deny", "Null", "elasticloadbalancing:CreateAction", "true", "*"},
		{"elasticloadbalancing:RemoveTags", "Deny", "ForAnyValue:StringEquals", "aws:TagKeys", "istio-alb.io/cluster", "*"},
		{"acm:RemoveTagsFromCertificate", "Deny", "ForAnyValue:StringEquals", "aws:TagKeys", "istio-alb.io/cluster", "*"},
		// Route53: only the zone given, only the record types the operator writes.
		{"route53:ChangeResourceRecordSets", "Allow", "ForAllValues:StringEquals", "route53:ChangeResourceRecordSetsRecordTypes", "TXT", zone},
		{"route53:ListResourceRecordSets", "Allow", "", "", "", zone},
		// The first ALB of an account needs ELB's service-linked role.
		{"iam:CreateServiceLinkedRole", "Allow", "StringEquals", "iam:AWSServiceName", "elasticloadbalancing.amazonaws.com", ""},
	} {
		name := fmt.Sprintf("%s %s on %s", c.effect, c.action, c.resource)
		if c.operator != "" {
			name += fmt.Sprintf(" if %s %s=%s", c.operator, c.key, c.value)
		}
		t.Run(name, func(t *testing.T) {
			grants := grantsOf(doc, c.action)
			for _, g := range grants {
				if g.effect != c.effect || (c.resource != "" && !slices.Contains(g.resources, c.resource)) {
					continue
				}
				if c.operator == "" || (g.operator == c.operator && g.key == c.key && slices.Contains(g.values, c.value)) {
					return
				}
			}
			t.Errorf("no statement says %s; %s is in %+v", name, c.action, grants)
		})
	}
}

// isRead tells the actions that change nothing: only they may go without a scope.
func isRead(action string) bool {
	_, op, _ := strings.Cut(action, ":")
	return strings.HasPrefix(op, "Describe") || strings.HasPrefix(op, "List") || strings.HasPrefix(op, "Get")
}

func TestNoWriteIsAllowedOnEveryResourceWithoutACondition(t *testing.T) {
	doc := render(t, iampolicy.Options{ClusterName: "blue", HostedZoneIDs: []string{"Z123"}})
	for _, s := range doc.Statement {
		if s.Effect != "Allow" || len(s.Condition) > 0 {
			continue
		}
		for _, a := range s.Action {
			if !isRead(a) && slices.Contains(s.Resource, "*") {
				t.Errorf("statement %s allows %s on every resource without a condition", s.Sid, a)
			}
		}
	}
}

func TestEveryWriteNeedsThisClustersTagButTheDocumentedExceptions(t *testing.T) {
	doc := render(t, iampolicy.Options{ClusterName: "blue", HostedZoneIDs: []string{"Z123"}})
	// Why each exception is one: the VPC half of CreateSecurityGroup (the group's half needs
	// the tag), the node security group (EKS's), Route53 records (scoped by zone), ELB's
	// service-linked role (scoped by service name), WAF's half of a web ACL association (the web
	// ACL is the user's, WAF has no condition key for the ALB; ELB's half needs the tag).
	exceptions := map[string]bool{
		"CreateSecurityGroupInAVPC":  true,
		"NodeSecurityGroupRules":     true,
		"RecordsOnlyInTheGivenZones": true,
		"ELBServiceLinkedRole":       true,
		"WebACLAssociations":         true,
	}
	for _, s := range doc.Statement {
		if s.Effect != "Allow" || exceptions[s.Sid] || !slices.ContainsFunc(s.Action, func(a string) bool { return !isRead(a) }) {
			continue
		}
		eq := s.Condition["StringEquals"]
		if !slices.Equal(eq["aws:RequestTag/istio-alb.io/cluster"], []string{"blue"}) &&
			!slices.Equal(eq["aws:ResourceTag/istio-alb.io/cluster"], []string{"blue"}) {
			t.Errorf("statement %s allows %v without requiring istio-alb.io/cluster=blue on the request or the resource", s.Sid, s.Action)
		}
	}
}

func TestWithoutZonesRecordsMayGoToEveryZone(t *testing.T) {
	doc := render(t, iampolicy.Options{ClusterName: "blue"})
	for _, g := range grantsOf(doc, "route53:ChangeResourceRecordSets") {
		if !slices.Equal(g.resources, []string{"arn:aws:route53:::hostedzone/*"}) {
			t.Errorf("resources %v, want every hosted zone", g.resources)
		}
	}
}

func TestZoneIDsMayCarryTheHostedZonePrefixAndRepeatsCollapse(t *testing.T) {
	doc := render(t, iampolicy.Options{ClusterName: "blue", HostedZoneIDs: []string{"/hostedzone/Z1", "Z2", " Z1 "}})
	for _, g := range grantsOf(doc, "route53:ChangeResourceRecordSets") {
		want := []string{"arn:aws:route53:::hostedzone/Z1", "arn:aws:route53:::hostedzone/Z2"}
		if !slices.Equal(g.resources, want) {
			t.Errorf("resources %v, want %v", g.resources, want)
		}
	}
}

func TestANameThatCouldActAsAWildcardOrVariableIsRefused(t *testing.T) {
	for _, o := range []iampolicy.Options{
		{ClusterName: ""},
		{ClusterName: "blue*"},
		{ClusterName: "${aws:username}"},
		{ClusterName: "blue green"},
		{ClusterName: "blue", HostedZoneIDs: []string{"Z1*"}},
		{ClusterName: "blue", HostedZoneIDs: []string{""}},
	} {
		if _, err := iampolicy.Render(o); err == nil {
			t.Errorf("Render(%+v) gave no error", o)
		}
	}
}

// The web ACL statements took the room of five zones (of three with a short name), a group
// member's listener rules that of two more (three with a long name): the policy of a
// 100-character name with more zones is for an inline policy (iam-policy warns).
func TestThePolicyFitsAManagedPolicyWithThirteenZonesOrALongNameAndOne(t *testing.T) {
	for _, c := range []struct {
		cluster string
		zones   int
	}{{"my-cluster", 13}, {strings.Repeat("c", 100), 1}} {
		var zones []string
		for i := range c.zones {
			zones = append(zones, fmt.Sprintf("Z%020d", i))
		}
		doc := render(t, iampolicy.Options{ClusterName: c.cluster, HostedZoneIDs: zones})
		if n := doc.Size(); n > iampolicy.ManagedPolicyLimit {
			t.Errorf("a %d-character name and %d zones: %d characters, over the %d of a managed policy", len(c.cluster), c.zones, n, iampolicy.ManagedPolicyLimit)
		}
	}
}

func TestTheCommittedPolicyIsTheRenderingForThePlaceholderCluster(t *testing.T) {
	committed, err := os.ReadFile("../../manifests/iam-policy.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := iampolicy.Render(iampolicy.Options{ClusterName: iampolicy.Placeholder})
	if err != nil {
		t.Fatal(err)
	}
	want, err := doc.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(committed, want) {
		t.Errorf("manifests/iam-policy.json is not what the renderer gives for %s: run 'make manifests-iam' and commit", iampolicy.Placeholder)
	}
}
