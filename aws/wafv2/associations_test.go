package wafv2

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	"github.com/aws/aws-sdk-go-v2/service/wafv2/types"

	"github.com/istio-alb-operator/istio-alb-operator/aws/model"
	"github.com/istio-alb-operator/istio-alb-operator/aws/tags"
)

// fakeAWS holds the web ACL of each load balancer and the marker tags, and records the calls.
type fakeAWS struct {
	acl   map[string]string
	mark  map[string]string
	calls []string
}

func (f *fakeAWS) GetWebACL(context.Context, *wafv2.GetWebACLInput, ...func(*wafv2.Options)) (*wafv2.GetWebACLOutput, error) {
	panic("not called by the synthesizer")
}

func (f *fakeAWS) GetWebACLForResource(_ context.Context, in *wafv2.GetWebACLForResourceInput, _ ...func(*wafv2.Options)) (*wafv2.GetWebACLForResourceOutput, error) {
	f.calls = append(f.calls, "Get "+short(*in.ResourceArn))
	out := &wafv2.GetWebACLForResourceOutput{}
	if a := f.acl[*in.ResourceArn]; a != "" {
		out.WebACL = &types.WebACL{ARN: aws.String(a)}
	}
	return out, nil
}

func (f *fakeAWS) AssociateWebACL(_ context.Context, in *wafv2.AssociateWebACLInput, _ ...func(*wafv2.Options)) (*wafv2.AssociateWebACLOutput, error) {
	f.calls = append(f.calls, "Associate "+short(*in.WebACLArn)+" "+short(*in.ResourceArn))
	f.acl[*in.ResourceArn] = *in.WebACLArn
	return &wafv2.AssociateWebACLOutput{}, nil
}

func (f *fakeAWS) DisassociateWebACL(_ context.Context, in *wafv2.DisassociateWebACLInput, _ ...func(*wafv2.Options)) (*wafv2.DisassociateWebACLOutput, error) {
	f.calls = append(f.calls, "Disassociate "+short(*in.ResourceArn))
	delete(f.acl, *in.ResourceArn)
	return &wafv2.DisassociateWebACLOutput{}, nil
}

func (f *fakeAWS) AddTags(_ context.Context, in *elbv2.AddTagsInput, _ ...func(*elbv2.Options)) (*elbv2.AddTagsOutput, error) {
	f.calls = append(f.calls, "Tag "+short(in.ResourceArns[0])+" "+short(*in.Tags[0].Value))
	f.mark[in.ResourceArns[0]] = *in.Tags[0].Value
	return &elbv2.AddTagsOutput{}, nil
}

func (f *fakeAWS) RemoveTags(_ context.Context, in *elbv2.RemoveTagsInput, _ ...func(*elbv2.Options)) (*elbv2.RemoveTagsOutput, error) {
	f.calls = append(f.calls, "Untag "+short(in.ResourceArns[0]))
	delete(f.mark, in.ResourceArns[0])
	return &elbv2.RemoveTagsOutput{}, nil
}

// short names ARNs by their last segment in the call log: "alb-new", "acl-x".
func short(arn string) string { return arn[strings.LastIndex(arn, "/")+1:] }

const (
	newALB = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/gw/alb-new"
	oldALB = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/gw/alb-old"
	aclX   = "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/x/acl-x"
	aclY   = "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/y/acl-y"
	aclZ   = "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/z/acl-z"
)

// lbs are the load balancers as the load balancer synthesizer found them, with the marker tags.
type lbs struct{ f *fakeAWS }

func (l lbs) Owned() []tags.Tagged {
	var out []tags.Tagged
	for _, arn := range []string{newALB, oldALB} {
		if _, exists := l.f.acl[arn]; exists || arn == newALB || l.f.mark[arn] != "" {
			t := map[string]string{}
			if m := l.f.mark[arn]; m != "" {
				t[Tag] = m
			}
			out = append(out, tags.Tagged{ARN: arn, Tags: t})
		}
	}
	return out
}

func TestTheAssociationFollowsTheAnnotationAndLeavesHandAttachedWebACLsAlone(t *testing.T) {
	cases := []struct {
		sentence string
		want     string            // the annotation
		created  bool              // the stack's ALB (alb-new) was created by this apply
		acl      map[string]string // web ACL by load balancer before the apply ("" key absent: none)
		mark     map[string]string // Tag by load balancer before the apply
		deleted  string            // a load balancer the apply deletes (BeforeDelete)
		calls    []string
		after    map[string]string // web ACL by load balancer after
	}{
		{sentence: "a new ALB gets the annotated web ACL without a read, and the Tag",
			want: aclX, created: true,
			calls: []string{"Associate acl-x alb-new", "Tag alb-new acl-x"}, after: map[string]string{newALB: aclX}},
		{sentence: "an ALB that has the annotated web ACL gets no write",
			want: aclX, acl: map[string]string{newALB: aclX}, mark: map[string]string{newALB: aclX},
			calls: []string{"Get alb-new"}, after: map[string]string{newALB: aclX}},
		{sentence: "a changed annotation associates the new web ACL, which replaces the old one",
			want: aclY, acl: map[string]string{newALB: aclX}, mark: map[string]string{newALB: aclX},
			calls: []string{"Get alb-new", "Associate acl-y alb-new", "Tag alb-new acl-y"}, after: map[string]string{newALB: aclY}},
		{sentence: "a removed annotation disassociates the web ACL the operator associated",
			acl: map[string]string{newALB: aclX}, mark: map[string]string{newALB: aclX},
			calls: []string{"Get alb-new", "Disassociate alb-new", "Untag alb-new"}, after: map[string]string{}},
		{sentence: "a web ACL attached by hand to an ALB whose Gateway names none costs no call and stays",
			acl:   map[string]string{newALB: aclZ},
			calls: nil, after: map[string]string{newALB: aclZ}},
		{sentence: "the annotation replaces a web ACL attached by hand",
			want: aclX, acl: map[string]string{newALB: aclZ},
			calls: []string{"Get alb-new", "Associate acl-x alb-new", "Tag alb-new acl-x"}, after: map[string]string{newALB: aclX}},
		{sentence: "a removed annotation leaves a web ACL someone put in place of the operator's",
			acl: map[string]string{newALB: aclZ}, mark: map[string]string{newALB: aclX},
			calls: []string{"Get alb-new", "Untag alb-new"}, after: map[string]string{newALB: aclZ}},
		{sentence: "a scheme change gives the new ALB the annotated web ACL, and the old one loses it before it goes",
			want: aclX, created: true, acl: map[string]string{oldALB: aclX}, mark: map[string]string{oldALB: aclX}, deleted: oldALB,
			calls: []string{"Associate acl-x alb-new", "Tag alb-new acl-x", "Disassociate alb-old"}, after: map[string]string{newALB: aclX}},
		{sentence: "a scheme change carries a web ACL attached by hand over to the new ALB, untagged",
			created: true, acl: map[string]string{oldALB: aclZ}, deleted: oldALB,
			calls: []string{"Get alb-old", "Associate acl-z alb-new", "Disassociate alb-old"}, after: map[string]string{newALB: aclZ}},
		{sentence: "a scheme change with the annotation removed carries nothing over",
			created: true, acl: map[string]string{oldALB: aclX}, mark: map[string]string{oldALB: aclX}, deleted: oldALB,
			calls: []string{"Get alb-old", "Disassociate alb-old"}, after: map[string]string{}},
		{sentence: "the second apply of a scheme change finds the carried web ACL in place",
			acl: map[string]string{oldALB: aclZ, newALB: aclZ}, deleted: oldALB,
			calls: []string{"Get alb-old", "Get alb-new", "Disassociate alb-old"}, after: map[string]string{newALB: aclZ}},
	}
	for _, c := range cases {
		t.Run(c.sentence, func(t *testing.T) {
			f := &fakeAWS{acl: map[string]string{}, mark: map[string]string{}}
			for k, v := range c.acl {
				f.acl[k] = v
			}
			for k, v := range c.mark {
				f.mark[k] = v
			}
			s := &Synthesizer{API: f, Tagging: f, LoadBalancers: lbs{f}, Stack: &model.Stack{LoadBalancer: &model.LoadBalancer{WebACLARN: c.want}}}
			ctx := context.Background()
			must(t, s.Synthesize(ctx, &model.Deployed{LoadBalancer: model.DeployedLoadBalancer{ARN: newALB, Created: c.created}}))
			if c.deleted != "" {
				must(t, s.BeforeDelete(ctx, c.deleted))
				delete(f.acl, c.deleted)
			}
			if !slices.Equal(f.calls, c.calls) {
				t.Errorf("calls %q, want %q", f.calls, c.calls)
			}
			for _, lb := range []string{newALB, oldALB} {
				if f.acl[lb] != c.after[lb] {
					t.Errorf("%s has %q, want %q", short(lb), f.acl[lb], c.after[lb])
				}
			}
		})
	}
}

func TestTeardownDetachesOnlyTheAssociationsTheOperatorKnows(t *testing.T) {
	for _, c := range []struct {
		sentence string
		acl      string
		mark     string
		calls    []string
	}{
		{"the operator's web ACL is disassociated before the ALB is deleted", aclX, aclX, []string{"Disassociate alb-new"}},
		{"an ALB without the Tag costs no WAF call (AWS drops a hand-attached association with it)", aclZ, "", nil},
		{"an ALB without any web ACL costs no WAF call", "", "", nil},
	} {
		t.Run(c.sentence, func(t *testing.T) {
			f := &fakeAWS{acl: map[string]string{}, mark: map[string]string{}}
			if c.acl != "" {
				f.acl[newALB] = c.acl
			}
			if c.mark != "" {
				f.mark[newALB] = c.mark
			}
			s := &Synthesizer{API: f, Tagging: f, LoadBalancers: lbs{f}, Stack: &model.Stack{}}
			must(t, s.BeforeDelete(context.Background(), newALB))
			if !slices.Equal(f.calls, c.calls) {
				t.Errorf("calls %q, want %q", f.calls, c.calls)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
