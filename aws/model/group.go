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

// GroupListenerState is what a group's listeners hold now, read from AWS: the HTTPS listener's
// certificates and each owner's rules by port. A member that does not fit keeps them.
type GroupListenerState struct {
	// Certificates are the HTTPS listener's, the default first.
	Certificates []string
	// Rules counts the rules by owner key, then by port.
	Rules map[string]map[int32]int
}
