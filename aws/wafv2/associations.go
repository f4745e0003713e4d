package wafv2

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"

	"github.com/istio-alb-operator/istio-alb-operator/aws/clients"
	"github.com/istio-alb-operator/istio-alb-operator/aws/model"
	"github.com/istio-alb-operator/istio-alb-operator/aws/tags"
)

// LoadBalancers tells the gateway's load balancers with their tags: during an apply, every one
// found and the one created (the load balancer synthesizer).
type LoadBalancers interface {
	Owned() []tags.Tagged
}

// Synthesizer makes the web ACL association of the gateway's ALB what the stack says. It runs
// after the load balancer synthesizer, whose load balancers it reads, and before the listeners,
// so a new ALB has its web ACL before it takes any traffic.
//
//   - The stack names a web ACL (the annotation): the ALB is associated with it unless WAF says it
//     is already (an association made by hand is replaced: the annotation is the source of truth),
//     and the ALB is tagged Tag=<web ACL>.
//   - The stack names none: a web ACL on the ALB that the Tag says the operator associated is
//     disassociated and the Tag removed; one attached by hand is left alone. While a replaced ALB
//     (a scheme change) still exists, a web ACL attached to it by hand is associated with the new
//     ALB too, so that the replacement does not drop it.
//   - Right before a load balancer is deleted (BeforeDelete), the association the operator knows
//     of — its own, or one it carried over — is removed.
//
// A Gateway without the annotation whose ALB was never associated by the operator costs no WAF
// call at all (the replacement of its ALB excepted).
type Synthesizer struct {
	API     API
	Tagging LoadBalancerTagging
	Stack   *model.Stack
	// LoadBalancers are the gateway's load balancers of this apply.
	LoadBalancers LoadBalancers

	// read are the web ACLs WAF reported in this apply, by load balancer ARN ("" for none).
	read map[string]string
}

// Discover reads nothing: the load balancers are the load balancer synthesizer's.
func (s *Synthesizer) Discover(context.Context, []tags.Tagged, []string) error { return nil }

// Owned returns nothing: an association is not a resource of its own.
func (s *Synthesizer) Owned() []tags.Tagged { return nil }

// PostSynthesize deletes nothing: associations go with their load balancer (BeforeDelete).
func (s *Synthesizer) PostSynthesize(context.Context) error { return nil }

// Synthesize associates, replaces or removes the web ACL of the stack's load balancer.
func (s *Synthesizer) Synthesize(ctx context.Context, out *model.Deployed) error {
	lb := out.LoadBalancer
	want := s.Stack.LoadBalancer.WebACLARN
	owned := s.LoadBalancers.Owned()
	mark := tagsOf(owned, lb.ARN)[Tag]
	carried := ""
	if want == "" {
		var err error
		if carried, err = s.handAttachedToReplaced(ctx, owned, lb.ARN); err != nil {
			return err
		}
	}
	if want == "" && carried == "" && mark == "" {
		return nil // nothing of the operator's to keep: a web ACL attached by hand stays as it is
	}
	have := ""
	if !lb.Created { // a load balancer just created has no web ACL
		var err error
		if have, err = s.webACLOf(ctx, lb.ARN); err != nil {
			return err
		}
	}
	switch {
	case want != "" && have != want:
		if err := s.associate(ctx, want, lb.ARN); err != nil {
			return err
		}
	case want == "" && carried != "" && have == "":
		if err := s.associate(ctx, carried, lb.ARN); err != nil {
			return err
		}
	case want == "" && mark != "" && have == mark:
		if err := s.disassociate(ctx, lb.ARN); err != nil {
			return err
		}
	}
	switch {
	case want != "" && mark != want:
		if _, err := s.Tagging.AddTags(ctx, &elbv2.AddTagsInput{ResourceArns: []string{lb.ARN},
			Tags: []elbv2types.Tag{{Key: aws.String(Tag), Value: aws.String(want)}}}); err != nil {
			return fmt.Errorf("AddTags %s %s: %w", Tag, lb.ARN, err)
		}
	case want == "" && mark != "":
		if _, err := s.Tagging.RemoveTags(ctx, &elbv2.RemoveTagsInput{ResourceArns: []string{lb.ARN}, TagKeys: []string{Tag}}); err != nil {
			return fmt.Errorf("RemoveTags %s %s: %w", Tag, lb.ARN, err)
		}
	}
	return nil
}

// handAttachedToReplaced returns the web ACL attached by hand (not the operator's, per its Tag)
// to a load balancer of the gateway other than the kept one: the one a scheme change replaces,
// which exists until the records have moved to its successor.
func (s *Synthesizer) handAttachedToReplaced(ctx context.Context, owned []tags.Tagged, kept string) (string, error) {
	for _, o := range owned {
		if o.ARN == kept || !strings.Contains(o.ARN, ":loadbalancer/") {
			continue
		}
		acl, err := s.webACLOf(ctx, o.ARN)
		if err != nil {
			return "", err
		}
		if acl != "" && acl != o.Tags[Tag] {
			return acl, nil
		}
	}
	return "", nil
}

// BeforeDelete removes the association the operator knows of from a load balancer about to be
// deleted: one it made (the Tag) or one it read in this apply (a web ACL carried over to the
// replacing ALB). AWS would drop it with the load balancer; removing it first leaves no
// reference to a deleted ALB at any time (the web ACL can be deleted at once, an emulator holds
// nothing stale) and, right before the delete rather than earlier, leaves no window in which a
// live ALB runs without its WAF. An association the operator knows nothing of costs no call.
func (s *Synthesizer) BeforeDelete(ctx context.Context, arn string) error {
	acl, read := s.read[arn]
	if !read {
		acl = tagsOf(s.LoadBalancers.Owned(), arn)[Tag]
	}
	if acl == "" {
		return nil
	}
	return s.disassociate(ctx, arn)
}

// webACLOf asks WAF which web ACL the load balancer has ("" for none, or for a load balancer
// that no longer exists), once per apply.
func (s *Synthesizer) webACLOf(ctx context.Context, lbARN string) (string, error) {
	if acl, ok := s.read[lbARN]; ok {
		return acl, nil
	}
	out, err := s.API.GetWebACLForResource(ctx, &wafv2.GetWebACLForResourceInput{ResourceArn: aws.String(lbARN)})
	switch {
	case clients.IsNotFound(err):
	case err != nil:
		return "", fmt.Errorf("GetWebACLForResource %s: %w", lbARN, err)
	}
	acl := ""
	if out != nil && out.WebACL != nil {
		acl = aws.ToString(out.WebACL.ARN)
	}
	s.remember(lbARN, acl)
	return acl, nil
}

// associate associates the web ACL with the load balancer; WAF replaces the one it had, with no
// moment without either.
func (s *Synthesizer) associate(ctx context.Context, acl, lbARN string) error {
	if _, err := s.API.AssociateWebACL(ctx, &wafv2.AssociateWebACLInput{WebACLArn: aws.String(acl), ResourceArn: aws.String(lbARN)}); err != nil {
		return clients.NotYet(fmt.Errorf("AssociateWebACL %s with %s: %w", acl, lbARN, err))
	}
	s.remember(lbARN, acl)
	return nil
}

func (s *Synthesizer) disassociate(ctx context.Context, lbARN string) error {
	if _, err := s.API.DisassociateWebACL(ctx, &wafv2.DisassociateWebACLInput{ResourceArn: aws.String(lbARN)}); err != nil && !clients.IsNotFound(err) {
		return fmt.Errorf("DisassociateWebACL %s: %w", lbARN, err)
	}
	s.remember(lbARN, "")
	return nil
}

func (s *Synthesizer) remember(lbARN, acl string) {
	if s.read == nil {
		s.read = map[string]string{}
	}
	s.read[lbARN] = acl
}

func tagsOf(owned []tags.Tagged, arn string) map[string]string {
	for _, o := range owned {
		if o.ARN == arn {
			return o.Tags
		}
	}
	return nil
}
