package annotations

import (
	"maps"
	"slices"
	"strconv"
	"strings"
)

// TargetGroupAttributes is the annotation of the ELBv2 target-group attributes (key=value,...).
const TargetGroupAttributes = Prefix + "target-group-attributes"

// DeregistrationDelay is the attribute that says how long a deregistered target stays draining.
const DeregistrationDelay = "deregistration_delay.timeout_seconds"

// DefaultDeregistrationDelay is the operator's deregistration delay, in seconds, where AWS's is
// 300: a terminating Istio gateway pod drains for terminationDrainDuration (5s by default) and is
// killed at its terminationGracePeriodSeconds (30s by default), so no target can answer longer
// than that after it is told to go; a longer delay only keeps the target "draining" after nothing
// answers there, holding up whatever waits for the drain to end (node drains, a rollout that
// re-registers the target). The ALB ends a deregistration at once when no request is in flight.
const DefaultDeregistrationDelay = "30"

// targetGroupAttributes are the attributes of ELBv2's API reference that apply to an ALB target
// group of instance or ip targets, with AWS's defaults.
var targetGroupAttributes = map[string]attribute{
	DeregistrationDelay:                                                              {"300", integer(0, 3600)},
	"slow_start.duration_seconds":                                                    {"0", slowStart},
	"stickiness.enabled":                                                             {"false", boolean},
	"stickiness.type":                                                                {"lb_cookie", enum("lb_cookie", "app_cookie")},
	"stickiness.lb_cookie.duration_seconds":                                          {"86400", integer(1, 604800)},
	"stickiness.app_cookie.cookie_name":                                              {"", cookieName},
	"stickiness.app_cookie.duration_seconds":                                         {"86400", integer(1, 604800)},
	"load_balancing.algorithm.type":                                                  {"round_robin", enum("round_robin", "least_outstanding_requests", "weighted_random")},
	"load_balancing.algorithm.anomaly_mitigation":                                    {"off", enum("on", "off")},
	"load_balancing.cross_zone.enabled":                                              {"use_load_balancer_configuration", enum("true", "false", "use_load_balancer_configuration")},
	"target_group_health.dns_failover.minimum_healthy_targets.count":                 {"1", offOr(integer(1, maxTargets))},
	"target_group_health.dns_failover.minimum_healthy_targets.percentage":            {"off", offOr(integer(1, 100))},
	"target_group_health.unhealthy_state_routing.minimum_healthy_targets.count":      {"1", integer(1, maxTargets)},
	"target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage": {"off", offOr(integer(1, 100))},
}

// slowStart is 0 (off) or 30 to 900 seconds.
func slowStart(v string) string {
	if n, err := strconv.Atoi(v); err != nil || (n != 0 && (n < 30 || n > 900)) {
		return "must be 0 (off) or an integer from 30 to 900"
	}
	return ""
}

// cookieName is an application cookie's name; the ALB keeps the AWSALB prefixes for itself.
func cookieName(v string) string {
	if strings.HasPrefix(strings.ToUpper(v), "AWSALB") {
		return "must not start with AWSALB, AWSALBAPP or AWSALBTG (the ALB's own cookies)"
	}
	if strings.ContainsAny(v, " ;,=\"\t") {
		return "must be a cookie name (no spaces, ;, ',', = or quotes)"
	}
	return ""
}

// offOr is "off" or what check accepts.
func offOr(check func(string) string) func(string) string {
	return func(v string) string {
		if v == "off" {
			return ""
		}
		if msg := check(v); msg != "" {
			return `must be "off" or ` + strings.TrimPrefix(msg, "must be ")
		}
		return ""
	}
}

// maxTargets bounds the minimum-healthy-targets counts (AWS: up to the group's target limit).
const maxTargets = 1000

// TargetGroupAttributeDefaults returns AWS's default of every target-group attribute the operator
// knows and puts back when the annotation no longer sets it. The application cookie's name is not
// among them: AWS has no empty name to go back to, and the name does nothing without
// stickiness.type=app_cookie, which is put back.
func TargetGroupAttributeDefaults() map[string]string {
	out := make(map[string]string, len(targetGroupAttributes))
	for k, a := range targetGroupAttributes {
		if a.def != "" {
			out[k] = a.def
		}
	}
	return out
}

// TargetGroupAttributesFor returns the attributes a target group gets: the operator's default
// deregistration delay, overridden and completed by what the annotation sets.
func TargetGroupAttributesFor(set map[string]string) map[string]string {
	out := map[string]string{DeregistrationDelay: DefaultDeregistrationDelay}
	maps.Copy(out, set)
	return out
}

// checkTargetGroupAttributes reports unknown keys, bad values, and settings AWS refuses together.
func (p *parser) checkTargetGroupAttributes(attrs map[string]string) {
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		a, known := targetGroupAttributes[k]
		if !known {
			p.invalid(TargetGroupAttributes, k, "is not an attribute of an ALB target group the operator knows; known: "+
				strings.Join(slices.Sorted(maps.Keys(targetGroupAttributes)), ", "))
			continue
		}
		if msg := a.check(attrs[k]); msg != "" {
			p.invalid(TargetGroupAttributes, k+"="+attrs[k], msg)
		} else if n, err := strconv.Atoi(attrs[k]); err == nil {
			attrs[k] = strconv.Itoa(n) // as AWS answers it ("030" is 30), or it would differ forever
		}
	}
	algorithm := attrs["load_balancing.algorithm.type"]
	if s := attrs["slow_start.duration_seconds"]; s != "" && s != "0" && (algorithm == "least_outstanding_requests" || algorithm == "weighted_random") {
		p.invalid(TargetGroupAttributes, "slow_start.duration_seconds="+s,
			"cannot be combined with load_balancing.algorithm.type="+algorithm+" (AWS refuses slow start with any algorithm but round_robin)")
	}
	if attrs["stickiness.enabled"] == "true" && algorithm == "weighted_random" {
		p.invalid(TargetGroupAttributes, "stickiness.enabled=true", "cannot be combined with load_balancing.algorithm.type=weighted_random (AWS refuses sticky sessions with it)")
	}
	if attrs["load_balancing.algorithm.anomaly_mitigation"] == "on" && algorithm != "weighted_random" {
		p.invalid(TargetGroupAttributes, "load_balancing.algorithm.anomaly_mitigation=on", "needs load_balancing.algorithm.type=weighted_random")
	}
	if attrs["stickiness.type"] == "app_cookie" && attrs["stickiness.app_cookie.cookie_name"] == "" {
		p.invalid(TargetGroupAttributes, "stickiness.type=app_cookie", "needs stickiness.app_cookie.cookie_name")
	}
}
