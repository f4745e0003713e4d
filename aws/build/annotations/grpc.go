package annotations

import "regexp"

var grpcCodes = regexp.MustCompile(`^[0-9]{1,2}(-[0-9]{1,2})?(,[0-9]{1,2}(-[0-9]{1,2})?)*$`)

// HTTPCodes reports whether v is an ALB health check matcher of HTTP codes: 200 to 499, single
// codes and ascending ranges separated by commas.
func HTTPCodes(v string) bool { return successCodes.MatchString(v) && codesIn(v, 200, 499) }

// GRPCCodes reports whether v is a matcher of gRPC status codes, the matcher of a target group
// of protocol version GRPC: 0 to 99, single codes and ascending ranges separated by commas.
func GRPCCodes(v string) bool { return grpcCodes.MatchString(v) && codesIn(v, 0, 99) }
