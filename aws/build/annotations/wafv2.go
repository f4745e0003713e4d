package annotations

import (
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
)

// WebACL scopes in a WAFv2 ARN: an ALB takes a regional web ACL; a global one is CloudFront's.
const (
	WebACLScopeRegional = "regional"
	WebACLScopeGlobal   = "global"
)

var (
	webACLName = regexp.MustCompile(`^[\w-]{1,128}$`)
	webACLID   = regexp.MustCompile(`^[0-9A-Za-z-]{1,128}$`)
	accountID  = regexp.MustCompile(`^[0-9]{12}$`)
)

// WebACL is a parsed WAFv2 web ACL ARN.
type WebACL struct {
	Region    string
	AccountID string
	Scope     string
	Name      string
}

// ParseWebACL reads arn:<partition>:wafv2:<region>:<account>:<scope>/webacl/<name>/<id>; ok is
// false when the value is not a web ACL ARN.
func ParseWebACL(value string) (WebACL, bool) {
	a, err := arn.Parse(value)
	if err != nil || a.Service != "wafv2" || a.Region == "" || !accountID.MatchString(a.AccountID) {
		return WebACL{}, false
	}
	parts := strings.Split(a.Resource, "/")
	if len(parts) != 4 || parts[1] != "webacl" || (parts[0] != WebACLScopeRegional && parts[0] != WebACLScopeGlobal) ||
		!webACLName.MatchString(parts[2]) || !webACLID.MatchString(parts[3]) {
		return WebACL{}, false
	}
	return WebACL{Region: a.Region, AccountID: a.AccountID, Scope: parts[0], Name: parts[2]}, true
}

// webACL parses the wafv2-acl-arn annotation: one REGIONAL web ACL ARN (a CLOUDFRONT web ACL
// cannot go on an ALB). Its region and account are checked by the planner, which knows them.
func (p *parser) webACL() string {
	v, ok := p.a[WAFv2ACLARN]
	if !ok {
		return ""
	}
	w, valid := ParseWebACL(strings.TrimSpace(v))
	switch {
	case !valid:
		p.invalid(WAFv2ACLARN, v, "must be a WAFv2 web ACL ARN: arn:aws:wafv2:<region>:<account>:regional/webacl/<name>/<id>")
		return ""
	case w.Scope != WebACLScopeRegional:
		p.invalid(WAFv2ACLARN, v, "is a CLOUDFRONT (global) web ACL; an ALB takes a REGIONAL web ACL (arn:aws:wafv2:<region>:<account>:regional/webacl/<name>/<id>)")
		return ""
	}
	return strings.TrimSpace(v)
}
