package annotations

import (
	"strings"
	"testing"
)

func TestTheWebACLAnnotation(t *testing.T) {
	const regional = "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/edge-rules/a1b2c3d4-5678-90ab-cdef-111122223333"
	cases := []struct {
		sentence string
		value    string
		want     string   // the parsed ARN when valid
		errs     []string // each must appear in the error when invalid
	}{
		{"a regional web ACL ARN is taken as it is", regional, regional, nil},
		{"surrounding spaces are trimmed", "  " + regional + " ", regional, nil},
		{"a CloudFront (global) web ACL cannot go on an ALB",
			"arn:aws:wafv2:us-east-1:123456789012:global/webacl/cdn/a1b2c3d4-5678-90ab-cdef-111122223333", "",
			[]string{WAFv2ACLARN, "global/webacl/cdn", "CLOUDFRONT", "REGIONAL"}},
		{"a WAF Classic web ACL id is not a WAFv2 ARN", "a1b2c3d4-5678-90ab-cdef-111122223333", "",
			[]string{WAFv2ACLARN, "a1b2c3d4", "arn:aws:wafv2:<region>:<account>:regional/webacl/<name>/<id>"}},
		{"an ARN of another service is refused", "arn:aws:waf-regional:us-east-1:123456789012:webacl/a1b2", "",
			[]string{WAFv2ACLARN, "waf-regional"}},
		{"an ARN of an IP set is not a web ACL", "arn:aws:wafv2:us-east-1:123456789012:regional/ipset/office/a1b2", "",
			[]string{WAFv2ACLARN, "regional/ipset"}},
		{"an ARN without its id is refused", "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/edge-rules", "",
			[]string{WAFv2ACLARN}},
		{"an ARN without a region is refused", "arn:aws:wafv2::123456789012:regional/webacl/edge-rules/a1b2", "",
			[]string{WAFv2ACLARN}},
		{"two ARNs are refused: an ALB takes one web ACL", regional + "," + regional, "",
			[]string{WAFv2ACLARN}},
	}
	for _, c := range cases {
		t.Run(c.sentence, func(t *testing.T) {
			cfg, errs := Parse(map[string]string{Enabled: "true", WAFv2ACLARN: c.value})
			if len(c.errs) == 0 {
				if len(errs) != 0 || cfg.WAFv2ACLARN != c.want {
					t.Fatalf("got %q, errors %v; want %q", cfg.WAFv2ACLARN, errs.ToAggregate(), c.want)
				}
				return
			}
			if len(errs) == 0 || cfg.WAFv2ACLARN != "" {
				t.Fatalf("no error for %q (parsed %q)", c.value, cfg.WAFv2ACLARN)
			}
			msg := errs.ToAggregate().Error()
			for _, want := range c.errs {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not mention %q", msg, want)
				}
			}
		})
	}
}

func TestAGatewayWithoutTheWebACLAnnotationAsksForNone(t *testing.T) {
	cfg, errs := Parse(map[string]string{Enabled: "true"})
	if len(errs) != 0 || cfg.WAFv2ACLARN != "" {
		t.Fatalf("got %q, errors %v", cfg.WAFv2ACLARN, errs.ToAggregate())
	}
}
