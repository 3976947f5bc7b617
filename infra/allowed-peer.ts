import { isIPv4, isIPv6 } from 'node:net';

/** A source allowed to reach the cache port besides the cache's own security group. */
export type AllowedPeer =
  | { readonly kind: 'securityGroup'; readonly securityGroupId: string }
  | { readonly kind: 'cidr'; readonly cidr: string; readonly ipVersion: 4 | 6 };

const SECURITY_GROUP_ID = /^sg-[0-9a-f]{8,17}$/;

/**
 * Parses one `allowFrom` entry: a security group id (`sg-…`) or an IPv4/IPv6 CIDR. A prefix of
 * length 0 (0.0.0.0/0, ::/0) is refused: the cache must never be open to every address.
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
  return { value: { kind: 'cidr', cidr: item, ipVersion } };
}
