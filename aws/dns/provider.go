package dns

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	"sigs.k8s.io/external-dns/endpoint"
	"sigs.k8s.io/external-dns/plan"
	"sigs.k8s.io/external-dns/provider"
)

// providerSpecificAlias marks an A/AAAA endpoint as a Route53 alias, as external-dns's AWS
// provider does.
const providerSpecificAlias = "alias"

// route53Provider is an external-dns provider over one zone's snapshot, read once for a batch of
// gateways: the external-dns TXT registry and plan run on top of it. Its changes are not sent
// one gateway at a time: they are added to the batch (sent as one ChangeResourceRecordSets) and
// applied to the snapshot at once, so the next gateway of the batch plans against them (two
// gateways claiming one name in one batch: the second sees the first's record). Deletes are the
// record sets as read, because Route53 deletes a record set only when given exactly as it is.
type route53Provider struct {
	provider.BaseProvider
	snap *snapshot
	// aliasZoneID is the canonical hosted zone of the alias target (the ALB).
	aliasZoneID string
	// changed says the gateway added changes to the batch.
	changed bool
}

type recordKey struct{ name, typ string }

var _ provider.Provider = (*route53Provider)(nil)

// managedTypes are the record types read and written (TXT for the registry).
var managedTypes = []string{endpoint.RecordTypeA, endpoint.RecordTypeAAAA, endpoint.RecordTypeCNAME, endpoint.RecordTypeTXT}

func normalize(name string) string {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	return strings.ReplaceAll(name, `\052`, "*")
}

func fqdn(name string) string { return strings.TrimSuffix(name, ".") + "." }

// Records implements provider.Provider: the A, AAAA, CNAME and TXT records of the zone, as the
// batch sees them.
func (p *route53Provider) Records(context.Context) ([]*endpoint.Endpoint, error) {
	var out []*endpoint.Endpoint
	for _, key := range p.snap.order() {
		rs := p.snap.sets[key]
		ep := &endpoint.Endpoint{DNSName: key.name, RecordType: key.typ, Labels: endpoint.NewLabels()}
		if rs.AliasTarget != nil {
			ep.Targets = endpoint.Targets{normalize(aws.ToString(rs.AliasTarget.DNSName))}
			ep.ProviderSpecific = endpoint.ProviderSpecific{{Name: providerSpecificAlias, Value: "true"}}
		} else {
			for _, r := range rs.ResourceRecords {
				ep.Targets = append(ep.Targets, aws.ToString(r.Value))
			}
			ep.RecordTTL = endpoint.TTL(aws.ToInt64(rs.TTL))
		}
		out = append(out, ep)
	}
	return out, nil
}

// ApplyChanges implements provider.Provider: the changes join the batch and the snapshot.
func (p *route53Provider) ApplyChanges(_ context.Context, changes *plan.Changes) error {
	add := func(action r53types.ChangeAction, eps []*endpoint.Endpoint) error {
		for _, ep := range eps {
			if _, ok := zoneOf([]Zone{p.snap.zone}, ep.DNSName); !ok {
				return fmt.Errorf("hosted zone %s does not own %s", p.snap.zone.Name, ep.DNSName)
			}
			key := recordKey{normalize(ep.DNSName), ep.RecordType}
			rs, ok := p.snap.sets[key]
			if action != r53types.ChangeActionDelete || !ok {
				rs = p.recordSet(ep)
			}
			p.snap.change(r53types.Change{Action: action, ResourceRecordSet: &rs}, key)
			p.changed = true
		}
		return nil
	}
	// Deletes first, so that a name moving between record types never collides.
	if err := add(r53types.ChangeActionDelete, changes.Delete); err != nil {
		return err
	}
	if err := add(r53types.ChangeActionCreate, changes.Create); err != nil {
		return err
	}
	return add(r53types.ChangeActionUpsert, changes.UpdateNew)
}

func (p *route53Provider) recordSet(ep *endpoint.Endpoint) r53types.ResourceRecordSet {
	rs := r53types.ResourceRecordSet{Name: aws.String(fqdn(ep.DNSName)), Type: r53types.RRType(ep.RecordType)}
	// The registry copies the alias property onto the TXT records it makes: only A and AAAA
	// records are aliases.
	isAddress := ep.RecordType == endpoint.RecordTypeA || ep.RecordType == endpoint.RecordTypeAAAA
	if v, ok := ep.GetProviderSpecificProperty(providerSpecificAlias); ok && v == "true" && isAddress && len(ep.Targets) > 0 {
		rs.AliasTarget = &r53types.AliasTarget{DNSName: aws.String(fqdn(ep.Targets[0])), HostedZoneId: aws.String(p.aliasZoneID), EvaluateTargetHealth: true}
		return rs
	}
	ttl := int64(ep.RecordTTL)
	if ttl == 0 {
		ttl = 300
	}
	rs.TTL = aws.Int64(ttl)
	for _, t := range ep.Targets {
		rs.ResourceRecords = append(rs.ResourceRecords, r53types.ResourceRecord{Value: aws.String(t)})
	}
	return rs
}

// zoneOf returns the zone among zones with the longest name owning name.
func zoneOf(zones []Zone, name string) (Zone, bool) {
	name = normalize(name)
	var best Zone
	found := false
	for _, z := range zones {
		if (name == z.Name || strings.HasSuffix(name, "."+z.Name)) && (!found || len(z.Name) > len(best.Name)) {
			best, found = z, true
		}
	}
	return best, found
}
