import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it, vi } from 'vitest';
import { DEFAULT_INBOUND_RULES_PER_SECURITY_GROUP, inboundRuleCounts, inboundRuleQuotaNote } from '../../../infra/security-group-quota.js';
import { build } from '../../support/synth.js';

vi.setConfig({ testTimeout: 120_000 });

const ipv4 = (n: number) => Array.from({ length: n }, (_, i) => `10.${1 + Math.floor(i / 256)}.${i % 256}.0/24`);
const ipv6 = (n: number) => Array.from({ length: n }, (_, i) => `2001:db8:${i.toString(16)}::/48`);

/** The quota notes of a stack; Annotations.fromStack synthesizes it, under cdk.json's strict validation. */
function quotaNotes(kcc: object) {
  return Annotations.fromStack(build({ apps: ['my-app'], ...kcc }).stack)
    .findInfo('*', Match.stringLikeRegexp('inbound rules per security group'))
    .map((m) => String(m.entry.data));
}

describe('allowFrom: Amazon VPC\'s default quota of 60 inbound rules per security group and IP family', () => {
  it('counts a CIDR in its family, a security group or prefix list in both', () => {
    expect(inboundRuleCounts([{ cidrIp: '10.0.0.0/16' }, { cidrIpv6: '2001:db8::/32' }, { sourceSecurityGroupId: 'sg-1' }, { sourcePrefixListId: 'pl-1' }]))
      .toEqual({ ipv4: 3, ipv6: 3 });
  });

  it('says nothing at 60 in a family, and names the family, the count, the quota and the fix past it', () => {
    expect(DEFAULT_INBOUND_RULES_PER_SECURITY_GROUP).toBe(60);
    expect(inboundRuleQuotaNote({ ipv4: 60, ipv6: 60 })).toBeUndefined();
    const note = inboundRuleQuotaNote({ ipv4: 61, ipv6: 2 });
    expect(note).toMatch(/^allowFrom: the cache's security group gets 61 inbound IPv4 rules \(/);
    expect(note).not.toMatch(/IPv6 rules/);
    expect(note).toMatch(/above Amazon VPC's default quota of 60 inbound rules per security group and IP family: before deploying, have the account's quota raised \(Service Quotas, Amazon VPC "Inbound or outbound rules per security group"\), or the deploy fails with RulesPerSecurityGroupLimitExceeded/);
    expect(inboundRuleQuotaNote({ ipv4: 3, ipv6: 62 })).toMatch(/gets 62 inbound IPv6 rules/);
  });

  it('notes (does not refuse) a stack past it, counting the cache\'s own and the bastion\'s rules, IPv4 and IPv6 apart', () => {
    // 58 CIDRs + the cache's own group + the bastion's = 60 IPv4 rules: within the default quota.
    expect(quotaNotes({ bastion: true, allowFrom: ipv4(58) })).toEqual([]);
    // 59: 61 IPv4 rules; the IPv6 family has the two security groups only.
    expect(quotaNotes({ bastion: true, allowFrom: ipv4(59) })).toEqual([expect.stringMatching(/^allowFrom: the cache's security group gets 61 inbound IPv4 rules \(/)]);
    // 60 IPv6 CIDRs, one security group in allowFrom, no bastion: 62 IPv6 rules (60 + allowFrom's group + its own), 2 IPv4.
    expect(quotaNotes({ allowFrom: [...ipv6(60), 'sg-0123456789abcdef0'] })).toEqual([expect.stringMatching(/gets 62 inbound IPv6 rules \(/)]);
    expect(quotaNotes({ deployment: 'serverless', allowFrom: ipv4(60) })).toEqual([expect.stringMatching(/gets 61 inbound IPv4 rules \(/)]);
  });
});
