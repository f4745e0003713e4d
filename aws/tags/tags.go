// Package tags defines the ownership tags on every AWS resource the operator creates and the
// hashed names that fit AWS's 32-character limits.
package tags

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// Tag keys written on every AWS resource the operator creates.
const (
	Cluster  = "istio-alb.io/cluster"
	Gateway  = "istio-alb.io/gateway"
	Resource = "istio-alb.io/resource"
)

// NodeRuleDescription marks the ingress rules the operator adds to the node security group,
// which is not ours: only rules whose source is our ALB security group and whose description
// is this one are ever revoked.
const NodeRuleDescription = "managed by istio-alb-operator"

// Owner identifies one Gateway of one cluster; it is what the ownership tags say.
type Owner struct {
	Cluster string
	// GatewayKey is "<kind>/<namespace>/<name>", e.g. "istio/test-ns/test-gateway".
	GatewayKey string
}

// For returns the tags of the resource with the given logical id, user tags first so that
// they can never override an ownership tag.
func (o Owner) For(resourceID string, user map[string]string) map[string]string {
	out := make(map[string]string, len(user)+3)
	for k, v := range user {
		out[k] = v
	}
	out[Cluster] = o.Cluster
	out[Gateway] = o.GatewayKey
	out[Resource] = resourceID
	return out
}

// Owns reports whether a resource with these tags belongs to this owner.
func (o Owner) Owns(t map[string]string) bool {
	return t[Cluster] == o.Cluster && t[Gateway] == o.GatewayKey
}

// Name returns a deterministic AWS name of at most 32 characters made of letters, digits and
// hyphens: "ia-<namespace>-<name>-<hash>", where the hash covers the cluster, the gateway, the
// logical id and every extra value (so a change of an immutable property yields a new name).
func (o Owner) Name(resourceID string, extra ...string) string {
	h := sha256.New()
	for _, s := range append([]string{o.Cluster, o.GatewayKey, resourceID}, extra...) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	sum := hex.EncodeToString(h.Sum(nil))[:10]
	parts := strings.SplitN(o.GatewayKey, "/", 3)
	ns, name := "", o.GatewayKey
	if len(parts) == 3 {
		ns, name = parts[1], parts[2]
	}
	return fmt.Sprintf("ia-%s-%s-%s", sanitize(ns, 7), sanitize(name, 8), sum)
}

// ResourceBackendSecurityGroup is the logical id of the cluster's backend security group.
const ResourceBackendSecurityGroup = "backend-sg"

// BackendTags are the tags of the cluster's backend security group: it belongs to the cluster,
// not to one gateway.
func BackendTags(cluster string) map[string]string {
	return map[string]string{Cluster: cluster, Resource: ResourceBackendSecurityGroup}
}

// BackendName is the name of the cluster's backend security group: "ia-<cluster>-backend-<hash>".
func BackendName(cluster string) string {
	h := sha256.Sum256([]byte(cluster + "\x00" + ResourceBackendSecurityGroup))
	return fmt.Sprintf("ia-%s-backend-%s", sanitize(cluster, 12), hex.EncodeToString(h[:])[:8])
}

func sanitize(s string, max int) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if b.Len() == max {
			break
		}
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else if b.Len() > 0 {
			b.WriteByte('-')
		}
	}
	return strings.TrimRight(b.String(), "-")
}
