package controllers

import (
	"context"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build"
	"github.com/istio-alb-operator/istio-alb-operator/aws/build/annotations"
)

// gatherWebACL tells the planner whether the web ACL of istio-alb.io/wafv2-acl-arn exists: a
// cached WAFv2 GetWebACL, asked again after a rejection (fresh: the user may have created it
// since). A web ACL of another region or account is not asked about: the planner reports it.
func (p *Pipeline) gatherWebACL(ctx context.Context, in *build.Input, cfg annotations.Config, fresh bool) error {
	arn := cfg.WAFv2ACLARN
	if arn == "" || p.WebACLs == nil {
		return nil
	}
	if w, _ := annotations.ParseWebACL(arn); (in.AWS.Region != "" && w.Region != in.AWS.Region) ||
		(in.AWS.AccountID != "" && w.AccountID != in.AWS.AccountID) {
		return nil
	}
	exists, err := p.WebACLs.Exists(ctx, arn, fresh)
	if err != nil {
		return err
	}
	in.AWS.WebACLs = map[string]bool{arn: exists}
	return nil
}
