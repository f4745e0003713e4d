package clients

import (
	"errors"
	"fmt"

	"github.com/aws/smithy-go"
)

// The AWS error codes the operator acts on, in one place, by what they mean to it.
var (
	// notFoundCodes say the resource asked about does not exist (any more).
	notFoundCodes = codes("LoadBalancerNotFound", "TargetGroupNotFound", "ListenerNotFound", "InvalidGroup.NotFound",
		"InvalidGroupId.NotFound", "ResourceNotFoundException", "NoSuchHostedZone", "CertificateNotFound",
		"WAFNonexistentItemException")
	// duplicateCodes say a resource of that name exists already.
	duplicateCodes = codes("DuplicateLoadBalancerName", "DuplicateTargetGroupName", "InvalidGroup.Duplicate", "DuplicateListener")
	// notYetCodes say AWS is still releasing a dependency; the same call succeeds later.
	notYetCodes = codes("DependencyViolation", "ResourceInUse",
		// WAF has not yet propagated a web ACL created moments before.
		"WAFUnavailableEntityException")
	// throttlingCodes say the call was rate-limited.
	throttlingCodes = codes("Throttling", "ThrottlingException", "ThrottledException", "RequestLimitExceeded",
		"TooManyRequestsException", "PriorRequestNotComplete", "RequestThrottled", "RequestThrottledException", "SlowDown")
	// permissionCodes say the caller is not allowed, or its credentials are not accepted (IRSA
	// or Pod Identity misconfigured).
	permissionCodes = codes("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedAccess", "AuthFailure",
		"InvalidClientTokenId", "UnrecognizedClientException", "ExpiredToken", "ExpiredTokenException")
)

// Codes the operator names directly.
const (
	CodeSSLPolicyNotFound = "SSLPolicyNotFound"
	// CodeOperationNotPermitted is ELBv2's answer to deleting a load balancer with deletion
	// protection on.
	CodeOperationNotPermitted = "OperationNotPermitted"
)

func codes(list ...string) map[string]bool {
	out := make(map[string]bool, len(list))
	for _, c := range list {
		out[c] = true
	}
	return out
}

// ErrorCode returns the AWS error code of err (e.g. "DependencyViolation"), or "".
func ErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// IsNotFound reports whether err says the resource does not exist.
func IsNotFound(err error) bool { return notFoundCodes[ErrorCode(err)] }

// IsDuplicate reports whether err says a resource of the name exists already.
func IsDuplicate(err error) bool { return duplicateCodes[ErrorCode(err)] }

// IsNotYet reports whether err says AWS is still releasing a dependency.
func IsNotYet(err error) bool { return notYetCodes[ErrorCode(err)] }

// IsThrottling reports whether err says the call was rate-limited.
func IsThrottling(err error) bool { return throttlingCodes[ErrorCode(err)] }

// IsPermission reports whether err says the caller is not allowed to make the call.
func IsPermission(err error) bool { return permissionCodes[ErrorCode(err)] }

// IsAWS reports whether err came from an AWS API call (an error code, or an SDK operation
// error such as a network failure).
func IsAWS(err error) bool {
	var oe *smithy.OperationError
	return ErrorCode(err) != "" || errors.As(err, &oe)
}

// ErrNotYet wraps an AWS refusal that resolves itself with time (a security group still used by
// a deleted ALB's interfaces, a target group still attached): retried after a delay, not an
// error to report.
var ErrNotYet = errors.New("AWS is still releasing a dependency")

// NotYet wraps err in ErrNotYet when its code says AWS is still releasing a dependency.
func NotYet(err error) error {
	if IsNotYet(err) {
		return fmt.Errorf("%w: %v", ErrNotYet, err)
	}
	return err
}

// DescribeExisting describes ids in batches of at most batch and returns what exists. AWS fails
// a whole describe that names one resource no longer there (a NotFound code), so such a batch is
// split in halves until the missing ones are left out.
func DescribeExisting[T any](ids []string, batch int, describe func(ids []string) ([]T, error)) ([]T, error) {
	var out []T
	for len(ids) > 0 {
		n := min(batch, len(ids))
		got, err := describeSplitting(ids[:n], describe)
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
		ids = ids[n:]
	}
	return out, nil
}

func describeSplitting[T any](ids []string, describe func([]string) ([]T, error)) ([]T, error) {
	got, err := describe(ids)
	switch {
	case err == nil:
		return got, nil
	case !IsNotFound(err):
		return nil, err
	case len(ids) == 1:
		return nil, nil
	}
	half := len(ids) / 2
	a, err := describeSplitting(ids[:half], describe)
	if err != nil {
		return nil, err
	}
	b, err := describeSplitting(ids[half:], describe)
	return append(a, b...), err
}
