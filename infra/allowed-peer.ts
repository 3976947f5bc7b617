import { isIPv4, isIPv6 } from 'node:net';

/** A source allowed to reach the cache port besides the cache's own security group. */
export type AllowedPeer =
  | { readonly kind: 'securityGroup'; readonly securityGroupId: string }
  | { readonly kind: 'cidr'; readonly cidr: string; readonly ipVersion: 4 | 6 };

const SECURITY_GROUP_ID = /^sg-[0-9a-f]{8,17}$/;

/**
 * The shortest prefix an `allowFrom` CIDR may have. The cache must never be open to every address,
 * and a few wide ranges can add up to it (0.0.0.0/1 and 128.0.0.0/1): a CIDR wider than any private
 * range (10.0.0.0/8 is the widest) is refused. Reaching every IPv4 address at /8 takes 256 rules,
 * beyond a security group's default limit of 60.
 */
const MIN_PREFIX = { 4: 8, 6: 16 } as const;

/** Whether `cidr` (already checked to be a CIDR) reaches too much of the internet; see {@link MIN_PREFIX}. */
export function tooWideCidr(cidr: string): boolean {
  const [address, prefix] = cidr.split('/');
  if (!address || prefix === undefined) return false;
  const version = isIPv4(address) ? 4 : isIPv6(address) ? 6 : undefined;
  return version !== undefined && Number(prefix) < MIN_PREFIX[version];
}

/**
 * Parses one `allowFrom` entry: a security group id (`sg-…`) or an IPv4/IPv6 CIDR. A prefix of
 * length 0 (0.0.0.0/0, ::/0) is refused: the cache must never be open to every address; so is one
 * shorter than /8 (IPv4) or /16 (IPv6), since a few of those add up to every address.
 */
export function parseAllowedPeer(item: unknown, where: string): { value?: AllowedPeer; problem?: string } {
  const rule = 'must be a security group id ("sg-…") or a CIDR ("10.0.0.0/16", "2001:db8::/32")';
  if (typeof item !== 'string') return { problem: `${where}: ${JSON.stringify(item)} ${rule}` };
  if (SECURITY_GROUP_ID.test(item)) return { value: { kind: 'securityGroup', securityGroupId: item } };
  const [address, prefixText, ...rest] = item.split('/');
  const prefix = Number(prefixText);
  const ipVersion = address && isIPv4(address) ? 4 : address && isIPv6(address) ? 6 : undefined;
  const maxPrefix = ipVersion === 4 ? 32 : 128;
  if (!ipVersion || rest.length > 0 || prefixText === undefined || !/^\d{1,3}$/.test(prefixText) || prefix > maxPrefix) {
    return { problem: `${where}: "${item}" ${rule}` };
  }
  if (prefix === 0) {
    return { problem: `${where}: "${item}" opens the cache to every address; name the clients' security group or CIDR instead` };
  }
  if (tooWideCidr(item)) {
    return { problem: `${where}: "${item}" is wider than /${MIN_PREFIX[ipVersion]}: a few such ranges open the cache to every address; name the clients' security group or a narrower CIDR (the VPC's or a subnet's)` };
  }
  return { value: { kind: 'cidr', cidr: item, ipVersion } };
}
