package build

import (
	"strings"
	"testing"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build/annotations"
)

func TestTheWebACLGoesIntoTheStackOrIsReportedNamingTheAnnotationAndValue(t *testing.T) {
	const (
		acl         = "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/edge/1111"
		otherRegion = "arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/edge/2222"
		otherAcct   = "arn:aws:wafv2:us-east-1:999999999999:regional/webacl/edge/3333"
	)
	cases := []struct {
		sentence string
		value    string
		change   func(*Input)
		want     string   // the stack's web ACL, when there is a plan
		problem  []string // words of the one problem's message, when there is none
	}{
		{sentence: "an existing web ACL of the ALB's region and account is in the stack", value: acl,
			change: func(in *Input) { in.AWS.WebACLs = map[string]bool{acl: true} }, want: acl},
		{sentence: "no annotation asks for no web ACL", want: ""},
		{sentence: "a web ACL that does not exist is reported and nothing is planned", value: acl,
			change:  func(in *Input) { in.AWS.WebACLs = map[string]bool{acl: false} },
			problem: []string{annotations.WAFv2ACLARN, acl, "does not exist"}},
		{sentence: "a web ACL of another region is reported", value: otherRegion,
			problem: []string{annotations.WAFv2ACLARN, otherRegion, "region eu-west-1", "us-east-1"}},
		{sentence: "a web ACL of another account is reported", value: otherAcct,
			problem: []string{annotations.WAFv2ACLARN, otherAcct, "account 999999999999"}},
		{sentence: "another region is reported also before AWS was read", value: otherRegion,
			change:  func(in *Input) { in.AWS = Facts{Region: "us-east-1"} },
			problem: []string{annotations.WAFv2ACLARN, "region eu-west-1"}},
		{sentence: "an unknown account is not held against the web ACL", value: acl,
			change: func(in *Input) { in.AWS.AccountID = ""; in.AWS.WebACLs = map[string]bool{acl: true} }, want: acl},
	}
	for _, c := range cases {
		t.Run(c.sentence, func(t *testing.T) {
			in := planInput()
			if c.value != "" {
				in.Annotations[annotations.WAFv2ACLARN] = c.value
			}
			if c.change != nil {
				c.change(&in)
			}
			plan, problems := Plan(in)
			if c.problem == nil {
				if len(problems) > 0 || plan.Stack == nil {
					t.Fatalf("problems %v", problems)
				}
				if got := plan.Stack.LoadBalancer.WebACLARN; got != c.want {
					t.Fatalf("web ACL %q, want %q", got, c.want)
				}
				return
			}
			var msgs []string
			for _, p := range problems {
				if p.Reason == ReasonInvalidAnnotation && strings.Contains(p.Message, annotations.WAFv2ACLARN) {
					msgs = append(msgs, p.Message)
				}
			}
			if plan != nil || len(msgs) != 1 {
				t.Fatalf("plan %v, web ACL problems %v (all: %v)", plan != nil, msgs, problems)
			}
			for _, w := range c.problem {
				if !strings.Contains(msgs[0], w) {
					t.Errorf("problem %q does not mention %q", msgs[0], w)
				}
			}
		})
	}
}

func TestTheWebACLIsPartOfTheStackHash(t *testing.T) {
	in := planInput()
	without, _ := Plan(in)
	const acl = "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/edge/1111"
	in.Annotations[annotations.WAFv2ACLARN] = acl
	in.AWS.WebACLs = map[string]bool{acl: true}
	with, _ := Plan(in)
	if without.Stack.Hash() == with.Stack.Hash() {
		t.Fatal("adding a web ACL leaves the stack's hash as it was: an event-triggered reconcile would not associate it")
	}
}
