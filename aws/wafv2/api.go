// Package wafv2 associates the WAFv2 web ACL a Gateway names with its ALB and keeps it there:
// through changes of the annotation, through the replacement of the ALB (a scheme change), and
// until just before the ALB is deleted. The operator associates web ACLs, it never creates,
// changes or deletes one: they are the user's.
package wafv2

import (
	"context"

	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
)

// API is the subset of the WAFv2 client the operator uses; *wafv2.Client satisfies it.
type API interface {
	GetWebACL(context.Context, *wafv2.GetWebACLInput, ...func(*wafv2.Options)) (*wafv2.GetWebACLOutput, error)
	GetWebACLForResource(context.Context, *wafv2.GetWebACLForResourceInput, ...func(*wafv2.Options)) (*wafv2.GetWebACLForResourceOutput, error)
	AssociateWebACL(context.Context, *wafv2.AssociateWebACLInput, ...func(*wafv2.Options)) (*wafv2.AssociateWebACLOutput, error)
	DisassociateWebACL(context.Context, *wafv2.DisassociateWebACLInput, ...func(*wafv2.Options)) (*wafv2.DisassociateWebACLOutput, error)
}

var _ API = (*wafv2.Client)(nil)

// LoadBalancerTagging is the part of the ELBv2 API that marks, on the ALB, the association the
// operator made; the aws/elbv2 API includes it.
type LoadBalancerTagging interface {
	AddTags(context.Context, *elbv2.AddTagsInput, ...func(*elbv2.Options)) (*elbv2.AddTagsOutput, error)
	RemoveTags(context.Context, *elbv2.RemoveTagsInput, ...func(*elbv2.Options)) (*elbv2.RemoveTagsOutput, error)
}

// Tag is the ALB tag that records the web ACL the operator associated because the Gateway's
// istio-alb.io/wafv2-acl-arn annotation names it. An association without it was made by hand:
// the operator leaves it alone (and carries it over to a replacing ALB).
const Tag = "istio-alb.io/wafv2-acl-arn"
