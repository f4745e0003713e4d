package build

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build/annotations"
	"github.com/istio-alb-operator/istio-alb-operator/aws/build/frontend"
	"github.com/istio-alb-operator/istio-alb-operator/aws/model"
	"github.com/istio-alb-operator/istio-alb-operator/aws/tags"
)

// Reasons of the notes about the target group's protocol version.
const (
	// ReasonProtocolVersionNeedsHTTPS: gRPC or HTTP/2 servers, and the ALB sends those protocols
	// to targets only from HTTPS listeners.
	ReasonProtocolVersionNeedsHTTPS = "ProtocolVersionNeedsHTTPS"
	// ReasonMixedProtocolVersions: servers sharing the target group need different protocol
	// versions, which one target group cannot speak.
	ReasonMixedProtocolVersions = "MixedProtocolVersions"
)

// ProtocolVersion returns the protocol version of the gateway's target group, HTTP1, HTTP2 or
// GRPC, and the notes that explain a choice the servers did not ask for. The servers the ALB
// forwards to share one target group (they are one listener of the gateway), which speaks one
// protocol version:
//   - any server needing HTTP/1.1 keeps HTTP1 (what the gateway had before, so browsers and
//     HTTP/1.1 clients keep working), with a Warning naming the gRPC/HTTP2 servers that then fail;
//   - else HTTP2 when a server asks for it (HTTP2 also carries gRPC), else GRPC;
//   - HTTP2 and GRPC need an HTTPS listener: without a certificate it stays HTTP1 (Warning), and
//     the HTTP listener redirects to HTTPS whatever ssl-redirect says (Warning if it said false).
func ProtocolVersion(fe *frontend.Frontend, cfg annotations.Config, https bool) (string, []Note) {
	servers := fe.BackendServers()
	byVersion := map[string][]string{}
	for _, s := range servers {
		for _, v := range s.ProtocolVersions() {
			byVersion[v] = append(byVersion[v], describe(s))
		}
	}
	var pv string
	switch {
	case len(byVersion[model.ProtocolVersionHTTP1]) > 0 || len(byVersion) == 0:
		pv = model.ProtocolVersionHTTP1
	case len(byVersion[model.ProtocolVersionHTTP2]) > 0:
		pv = model.ProtocolVersionHTTP2
	default:
		pv = model.ProtocolVersionGRPC
	}
	others := func() []string {
		var out []string
		for _, v := range []string{model.ProtocolVersionGRPC, model.ProtocolVersionHTTP2} {
			out = append(out, byVersion[v]...)
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	var notes []Note
	switch {
	case pv == model.ProtocolVersionHTTP1 && len(byVersion) > 1:
		notes = append(notes, Note{true, ReasonMixedProtocolVersions, fmt.Sprintf(
			"%s need gRPC or HTTP/2 to the gateway, but %s on the same port need HTTP/1.1, and the ALB's one target group for that port speaks one protocol version: it stays HTTP/1.1, so gRPC through the ALB fails there; serve gRPC on its own port or Gateway",
			strings.Join(others(), ", "), strings.Join(byVersion[model.ProtocolVersionHTTP1], ", "))})
	case pv != model.ProtocolVersionHTTP1 && !https:
		notes = append(notes, Note{true, ReasonProtocolVersionNeedsHTTPS, fmt.Sprintf(
			"%s need %s to the gateway, which the ALB sends only from an HTTPS listener, and the gateway has no certificate: the target group stays HTTP/1.1 until it has one (an issued ACM certificate covering its hosts, %s or %s)",
			strings.Join(others(), ", "), pv, annotations.CertificateARNs, annotations.RequestCertificate)})
		pv = model.ProtocolVersionHTTP1
	case pv != model.ProtocolVersionHTTP1 && !cfg.SSLRedirect:
		notes = append(notes, Note{true, ReasonProtocolVersionNeedsHTTPS, fmt.Sprintf(
			"annotation %s=false: the target group speaks %s for %s, and the ALB forwards to such a group only from HTTPS: the HTTP listener redirects to HTTPS",
			annotations.SSLRedirect, pv, strings.Join(others(), ", "))})
	}
	return pv, notes
}

func describe(s frontend.Server) string {
	if len(s.RouteKinds) == 0 {
		return s.Describe()
	}
	return s.Describe() + " with " + strings.Join(s.RouteKinds, "s and ") + "s"
}

// checkSuccessCodes checks the success-codes annotation against the protocol version: gRPC
// status codes for a GRPC target group, HTTP codes for the others.
func checkSuccessCodes(cfg annotations.Config, pv string) []Problem {
	codes := cfg.HealthCheck.SuccessCodes
	switch {
	case codes == nil || (!annotations.GRPCCodes(*codes) && !annotations.HTTPCodes(*codes)):
		return nil // none, or reported by the annotation's own check
	case pv == model.ProtocolVersionGRPC && !annotations.GRPCCodes(*codes):
		return []Problem{{Reason: ReasonInvalidAnnotation, Message: fmt.Sprintf(
			"annotation %s=%q: the target group speaks gRPC (protocol version GRPC), whose health check matcher takes gRPC status codes from 0 to 99, such as 12 (UNIMPLEMENTED, the default) or 0 (OK)",
			annotations.SuccessCodes, *codes)}}
	case pv != model.ProtocolVersionGRPC && !annotations.HTTPCodes(*codes):
		return []Problem{{Reason: ReasonInvalidAnnotation, Message: fmt.Sprintf(
			"annotation %s=%q: the target group speaks %s, whose health check matcher takes HTTP codes from 200 to 499 (gRPC status codes apply only to a GRPC target group)",
			annotations.SuccessCodes, *codes, pv)}}
	}
	return nil
}

// setProtocolVersion sets the target group's protocol version, which cannot change in place: a
// version other than HTTP1 is part of the name, so a change creates the new group beside the old
// one, the listeners move to it and the old one is deleted. (HTTP1 leaves the name as it was
// before protocol versions, so no existing group is replaced.)
func setProtocolVersion(owner tags.Owner, tg *model.TargetGroup, pv string) {
	tg.ProtocolVersion = pv
	if pv != model.ProtocolVersionHTTP1 {
		tg.Name = owner.Name(tg.ResourceID, strconv.Itoa(int(tg.Port)), tg.Protocol, tg.TargetType, tg.VPCID, pv)
	}
}

// setTargetGroupAttributes sets the attributes the user set and the operator's defaults, and
// AWS's default of every other attribute known (a key removed from the annotation reverts).
func setTargetGroupAttributes(tg *model.TargetGroup, set map[string]string) {
	tg.Attributes = annotations.TargetGroupAttributesFor(set)
	tg.DefaultAttributes = annotations.TargetGroupAttributeDefaults()
	for k := range tg.Attributes {
		delete(tg.DefaultAttributes, k)
	}
}
