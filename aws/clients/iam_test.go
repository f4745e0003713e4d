package clients_test

import (
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/istio-alb-operator/istio-alb-operator/aws/acm"
	"github.com/istio-alb-operator/istio-alb-operator/aws/dns"
	"github.com/istio-alb-operator/istio-alb-operator/aws/ec2"
	"github.com/istio-alb-operator/istio-alb-operator/aws/elbv2"
	"github.com/istio-alb-operator/istio-alb-operator/aws/tags"
	"github.com/istio-alb-operator/istio-alb-operator/aws/wafv2"
)

// PolicyActions reads the actions manifests/iam-policy.json allows. Its Deny statements (the
// ownership tag written only on create) may name actions the code never calls.
func policyActions(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("../../manifests/iam-policy.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Version   string
		Statement []struct {
			Sid, Effect string
			Action      []string
			Resource    any
			Condition   map[string]map[string]any
		}
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("manifests/iam-policy.json is not valid JSON: %v", err)
	}
	if doc.Version != "2012-10-17" {
		t.Fatalf("policy version %q", doc.Version)
	}
	var out []string
	for _, s := range doc.Statement {
		if (s.Effect != "Allow" && s.Effect != "Deny") || s.Sid == "" || s.Resource == nil || len(s.Action) == 0 {
			t.Fatalf("statement %+v: want Sid, Effect Allow or Deny, Action and Resource", s)
		}
		if s.Effect == "Deny" && len(s.Condition) == 0 {
			t.Fatalf("statement %s: a Deny without a condition would refuse the operator its own calls", s.Sid)
		}
		for _, a := range s.Action {
			if strings.Contains(a, "*") {
				t.Fatalf("statement %s: wildcard action %s", s.Sid, a)
			}
			if s.Effect == "Allow" {
				out = append(out, a)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TestTheIAMPolicyNamesExactlyTheCallsTheCodeCanMake compares the policy with the methods of the
// SDK-shaped interfaces, which are every AWS operation the operator can call. The scenarios
// check the other way round: every call they saw is in the policy (test/integration TestMain).
func TestTheIAMPolicyNamesExactlyTheCallsTheCodeCanMake(t *testing.T) {
	apis := map[string]reflect.Type{
		"ec2":                  reflect.TypeFor[ec2.API](),
		"elasticloadbalancing": reflect.TypeFor[elbv2.API](),
		"acm":                  reflect.TypeFor[acm.API](),
		"route53":              reflect.TypeFor[dns.API](),
		"tag":                  reflect.TypeFor[tags.TaggingAPI](),
		"wafv2":                reflect.TypeFor[wafv2.API](),
	}
	// Tagging on create is authorised separately from the create call itself, ELB creates
	// its service-linked role on the account's first load balancer, and WAF's association calls
	// are authorised on the ALB by ELB's permission-only actions.
	want := []string{"acm:AddTagsToCertificate", "iam:CreateServiceLinkedRole",
		"elasticloadbalancing:CreateWebACLAssociation", "elasticloadbalancing:DeleteWebACLAssociation",
		"elasticloadbalancing:GetLoadBalancerWebACL"}
	for prefix, typ := range apis {
		for i := range typ.NumMethod() {
			want = append(want, prefix+":"+typ.Method(i).Name)
		}
	}
	slices.Sort(want)
	got := policyActions(t)
	for _, a := range want {
		if !slices.Contains(got, a) {
			t.Errorf("the code can call %s but the policy does not allow it", a)
		}
	}
	for _, a := range got {
		if !slices.Contains(want, a) {
			t.Errorf("the policy allows %s, which the code never calls", a)
		}
	}
}
