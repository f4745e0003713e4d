package build

import (
	"fmt"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build/annotations"
)

// checkWebACL says why the web ACL of istio-alb.io/wafv2-acl-arn cannot be associated with the
// ALB: another region or account (AWS associates a regional web ACL only with resources of its
// own region and account), or, once AWS was read, a web ACL that does not exist.
func checkWebACL(in Input, cfg annotations.Config) []Problem {
	arn := cfg.WAFv2ACLARN
	if arn == "" {
		return nil
	}
	w, _ := annotations.ParseWebACL(arn) // valid: the annotation parser refused any other value
	var msg string
	switch {
	case in.AWS.Region != "" && w.Region != in.AWS.Region:
		msg = fmt.Sprintf("the web ACL is in region %s; an ALB in %s can only be associated with a web ACL of its own region", w.Region, in.AWS.Region)
	case in.AWS.AccountID != "" && w.AccountID != in.AWS.AccountID:
		msg = fmt.Sprintf("the web ACL belongs to account %s; an ALB in account %s can only be associated with a web ACL of its own account", w.AccountID, in.AWS.AccountID)
	case in.AWS.Read && !in.AWS.WebACLs[arn]:
		msg = fmt.Sprintf("web ACL %s does not exist (WAFv2 GetWebACL found no such REGIONAL web ACL)", w.Name)
	default:
		return nil
	}
	return []Problem{{Reason: ReasonInvalidAnnotation, Message: fmt.Sprintf("annotation %s=%q: %s", annotations.WAFv2ACLARN, arn, msg)}}
}
