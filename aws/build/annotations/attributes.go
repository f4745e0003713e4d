package annotations

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// attribute is an ELBv2 load balancer attribute of an ALB the operator knows: its AWS default
// and how to check a value.
type attribute struct {
	def   string
	check func(string) string // why the value is wrong, "" when it is right
}

func boolean(v string) string {
	if v != "true" && v != "false" {
		return `must be "true" or "false"`
	}
	return ""
}

func integer(lo, hi int) func(string) string {
	return func(v string) string {
		if n, err := strconv.Atoi(v); err != nil || n < lo || n > hi {
			return fmt.Sprintf("must be an integer from %d to %d", lo, hi)
		}
		return ""
	}
}

func enum(values ...string) func(string) string {
	return func(v string) string {
		if !slices.Contains(values, v) {
			return "must be one of " + strings.Join(values, ", ")
		}
		return ""
	}
}

var (
	s3Bucket = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	s3Prefix = regexp.MustCompile(`^[A-Za-z0-9!_.*'()/-]*$`)
)

func bucket(v string) string {
	if v != "" && !s3Bucket.MatchString(v) {
		return "must be an S3 bucket name"
	}
	return ""
}

func prefix(v string) string {
	if len(v) > 1024 || !s3Prefix.MatchString(v) || strings.Contains(v, "AWSLogs") {
		return "must be an S3 key prefix (not containing AWSLogs)"
	}
	return ""
}

// loadBalancerAttributes are the ALB attributes of ELBv2's API reference that can be set, with
// their defaults.
var loadBalancerAttributes = map[string]attribute{
	"access_logs.s3.enabled":                                   {"false", boolean},
	"access_logs.s3.bucket":                                    {"", bucket},
	"access_logs.s3.prefix":                                    {"", prefix},
	"connection_logs.s3.enabled":                               {"false", boolean},
	"connection_logs.s3.bucket":                                {"", bucket},
	"connection_logs.s3.prefix":                                {"", prefix},
	"client_keep_alive.seconds":                                {"3600", integer(60, 604800)},
	"deletion_protection.enabled":                              {"false", boolean},
	"idle_timeout.timeout_seconds":                             {"60", integer(1, 4000)},
	"routing.http.desync_mitigation_mode":                      {"defensive", enum("monitor", "defensive", "strictest")},
	"routing.http.drop_invalid_header_fields.enabled":          {"false", boolean},
	"routing.http.preserve_host_header.enabled":                {"false", boolean},
	"routing.http.x_amzn_tls_version_and_cipher_suite.enabled": {"false", boolean},
	"routing.http.xff_client_port.enabled":                     {"false", boolean},
	"routing.http.xff_header_processing.mode":                  {"append", enum("append", "preserve", "remove")},
	"routing.http2.enabled":                                    {"true", boolean},
	"waf.fail_open.enabled":                                    {"false", boolean},
	"zonal_shift.config.enabled":                               {"false", boolean},
}

// DeletionProtection is the attribute that keeps a load balancer from being deleted.
const DeletionProtection = "deletion_protection.enabled"

// LoadBalancerAttributeDefaults returns AWS's default of every attribute the operator knows.
func LoadBalancerAttributeDefaults() map[string]string {
	out := make(map[string]string, len(loadBalancerAttributes))
	for k, a := range loadBalancerAttributes {
		out[k] = a.def
	}
	return out
}

// loadBalancerAttributeKeys lists the known keys, for messages.
func loadBalancerAttributeKeys() []string {
	var out []string
	for k := range loadBalancerAttributes {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// checkLoadBalancerAttributes reports unknown keys, bad values, and settings that need another.
func (p *parser) checkLoadBalancerAttributes(attrs map[string]string) {
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		a, known := loadBalancerAttributes[k]
		if !known {
			p.invalid(LoadBalancerAttributes, k, "is not an ALB attribute the operator knows; known: "+strings.Join(loadBalancerAttributeKeys(), ", "))
			continue
		}
		if msg := a.check(attrs[k]); msg != "" {
			p.invalid(LoadBalancerAttributes, k+"="+attrs[k], msg)
		}
	}
	for _, logs := range []string{"access_logs", "connection_logs"} {
		if attrs[logs+".s3.enabled"] == "true" && attrs[logs+".s3.bucket"] == "" {
			p.invalid(LoadBalancerAttributes, logs+".s3.enabled=true", "needs "+logs+".s3.bucket")
		}
	}
}
