import { Annotations, type IAspect, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type { IConstruct } from 'constructs';

/**
 * Amazon VPC's default quota of inbound rules per security group: 60, adjustable, and "enforced
 * separately for IPv4 rules and IPv6 rules … a security group can have 60 inbound rules for IPv4
 * traffic and 60 inbound rules for IPv6 traffic"
 * (https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html, "Security groups",
 * "Inbound or outbound rules per security group"). A rule that references a security group counts as
 * one rule (security-group-rules.html, "Security group size"); the quotas page used to add that it
 * "counts as one rule for IPv4 and one rule for IPv6", so it is counted in both families here. Past
 * it, EC2 refuses the rule (RulesPerSecurityGroupLimitExceeded) and the deploy fails, unless the
 * account's quota was raised: the stack says so and does not refuse.
 */
export const DEFAULT_INBOUND_RULES_PER_SECURITY_GROUP = 60;

/** The source of one inbound rule, as CloudFormation has it (`AWS::EC2::SecurityGroup` ingress or `AWS::EC2::SecurityGroupIngress`). */
export interface InboundRuleSource {
  readonly cidrIp?: unknown;
  readonly cidrIpv6?: unknown;
  readonly sourceSecurityGroupId?: unknown;
  readonly sourcePrefixListId?: unknown;
}

export interface InboundRuleCounts {
  readonly ipv4: number;
  readonly ipv6: number;
}

/**
 * How many inbound rules `rules` count against each IP family's quota: a CIDR in its family, a
 * security group or prefix list in both. A customer-managed prefix list counts as its maximum size,
 * which the template does not say: counted as one, so the count is a lower bound with one.
 */
export function inboundRuleCounts(rules: readonly InboundRuleSource[]): InboundRuleCounts {
  let ipv4 = 0;
  let ipv6 = 0;
  for (const rule of rules) {
    const cidr4 = rule.cidrIp !== undefined;
    const cidr6 = rule.cidrIpv6 !== undefined;
    if (cidr4 || !cidr6) ipv4 += 1;
    if (cidr6 || !cidr4) ipv6 += 1;
  }
  return { ipv4, ipv6 };
}

/** The note for a security group with `counts` inbound rules past the default quota of a family, or undefined. */
export function inboundRuleQuotaNote(counts: InboundRuleCounts): string | undefined {
  const over = (['ipv4', 'ipv6'] as const).filter((family) => counts[family] > DEFAULT_INBOUND_RULES_PER_SECURITY_GROUP);
  if (over.length === 0) return undefined;
  const which = over.map((family) => `${counts[family]} inbound ${family === 'ipv4' ? 'IPv4' : 'IPv6'} rules`).join(' and ');
  return `allowFrom: the cache's security group gets ${which} (one per allowFrom CIDR of that family, and in both families one per ` +
    `security group it admits: allowFrom's, its own, the bastion's), above Amazon VPC's default quota of ${DEFAULT_INBOUND_RULES_PER_SECURITY_GROUP} ` +
    'inbound rules per security group and IP family: before deploying, have the account\'s quota raised (Service Quotas, Amazon VPC ' +
    '"Inbound or outbound rules per security group"), or the deploy fails with RulesPerSecurityGroupLimitExceeded; ' +
    'or list fewer entries (a shared security group or a wider CIDR for many clients, or let them join the cache\'s security group)';
}

/**
 * Counts the inbound rules `securityGroup` ends up with, once every construct of the stack has added
 * its own (the bastion's, a Lambda function's `connections.allowDefaultPortFrom`), and notes when a
 * family passes the default quota. An info annotation, not a warning: a warning fails synth under
 * this repository's strict validation flags (see `KccRedisCache`), and the quota may have been raised.
 */
export class InboundRuleQuotaCheck implements IAspect {
  constructor(private readonly securityGroup: ec2.SecurityGroup) {}

  visit(node: IConstruct): void {
    if (node !== this.securityGroup) return;
    const note = inboundRuleQuotaNote(inboundRuleCounts(securityGroupInboundRules(this.securityGroup)));
    if (note) Annotations.of(this.securityGroup).addInfo(note);
  }
}

/** The inbound rules of `securityGroup` in its stack: its inline ones and the separate `AWS::EC2::SecurityGroupIngress` resources aimed at it. */
export function securityGroupInboundRules(securityGroup: ec2.SecurityGroup): InboundRuleSource[] {
  const stack = Stack.of(securityGroup);
  const cfn = securityGroup.node.defaultChild as ec2.CfnSecurityGroup;
  const inline = (stack.resolve(cfn.securityGroupIngress) ?? []) as InboundRuleSource[];
  const groupId = JSON.stringify(stack.resolve(securityGroup.securityGroupId));
  const separate = stack.node.findAll()
    .filter((c): c is ec2.CfnSecurityGroupIngress => c instanceof ec2.CfnSecurityGroupIngress)
    .filter((rule) => JSON.stringify(stack.resolve(rule.groupId)) === groupId);
  return [...inline, ...separate];
}
