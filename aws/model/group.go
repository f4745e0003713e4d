package model

// FixedResponse is a fixed-response action.
type FixedResponse struct {
	StatusCode  string `json:"statusCode"`
	ContentType string `json:"contentType"`
}

// Rule is one listener rule of a group member: requests for its hosts on the listener's port
// forward to a target group of the member. Priorities are chosen when the rule is deployed: a
// block per member, kept while the member stays (see elbv2.RuleSynthesizer).
type Rule struct {
	Port  int32    `json:"port"`
	Hosts []string `json:"hosts"` // at most MaxRuleHosts
	// ForwardTo is the ResourceID of a TargetGroup of the member's stack.
	ForwardTo string `json:"forwardTo"`
}

// MaxRuleHosts is how many host-header values one ALB rule takes (5 condition values a rule).
const MaxRuleHosts = 5

// Group limits of AWS: rules per listener (the default rule not counted) and certificates per
// listener (a default and 25 SNI).
const (
	MaxRulesPerListener        = 100
	MaxCertificatesPerListener = 26
)
