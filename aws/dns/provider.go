package dns

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	"sigs.k8s.io/external-dns/endpoint"
	"sigs.k8s.io/external-dns/plan"
	"sigs.k8s.io/external-dns/provider"
)

// providerSpecificAlias marks an A/AAAA endpoint as a Route53 alias, as external-dns's AWS
// provider does.
const providerSpecificAlias = "alias"

// route53Provider is an external-dns provider over the operator's Route53 client, limited to a
// set of zones: the external-dns TXT registry and plan run on top of it. It keeps the record sets
// it read, because Route53 deletes a record set only when given exactly as it is.
type route53Provider struct {
	provider.BaseProvider
	api   API
	zones []Zone
	// aliasZoneID is the canonical hosted zone of the alias target (the ALB).
	aliasZoneID string
	read        map[recordKey]r53types.ResourceRecordSet
	// changeCalls counts the ChangeResourceRecordSets calls made.
	changeCalls int
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

// Records implements provider.Provider: the A, AAAA, CNAME and TXT records of the zones.
func (p *route53Provider) Records(ctx context.Context) ([]*endpoint.Endpoint, error) {
	p.read = map[recordKey]r53types.ResourceRecordSet{}
	var out []*endpoint.Endpoint
	for _, z := range p.zones {
		pg := route53.NewListResourceRecordSetsPaginator(p.api, &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(z.ID)})
		for pg.HasMorePages() {
			page, err := pg.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("ListResourceRecordSets %s: %w", z.ID, err)
			}
			for _, rs := range page.ResourceRecordSets {
				typ := string(rs.Type)
				if !slices.Contains(managedTypes, typ) || rs.SetIdentifier != nil {
					continue
				}
				name := normalize(aws.ToString(rs.Name))
				p.read[recordKey{name, typ}] = rs
				ep := &endpoint.Endpoint{DNSName: name, RecordType: typ, Labels: endpoint.NewLabels()}
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
		}
	}
	return out, nil
}

// ApplyChanges implements provider.Provider: one ChangeResourceRecordSets call per zone.
func (p *route53Provider) ApplyChanges(ctx context.Context, changes *plan.Changes) error {
	byZone := map[string][]r53types.Change{}
	add := func(action r53types.ChangeAction, eps []*endpoint.Endpoint) error {
		for _, ep := range eps {
			zone, ok := zoneOf(p.zones, ep.DNSName)
			if !ok {
				return fmt.Errorf("no hosted zone among %v owns %s", p.zones, ep.DNSName)
			}
			rs, ok := p.read[recordKey{normalize(ep.DNSName), ep.RecordType}]
			if action != r53types.ChangeActionDelete || !ok {
				rs = p.recordSet(ep)
			}
			byZone[zone.ID] = append(byZone[zone.ID], r53types.Change{Action: action, ResourceRecordSet: &rs})
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
	if err := add(r53types.ChangeActionUpsert, changes.UpdateNew); err != nil {
		return err
	}
	for _, id := range slices.Sorted(maps.Keys(byZone)) {
		p.changeCalls++
		if _, err := p.api.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{
			HostedZoneId: aws.String(id),
			ChangeBatch:  &r53types.ChangeBatch{Comment: aws.String(changeComment), Changes: byZone[id]},
		}); err != nil {
			return fmt.Errorf("ChangeResourceRecordSets %s: %w", id, err)
		}
	}
	return nil
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
