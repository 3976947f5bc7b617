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

/** The IP version and prefix length of a CIDR, undefined when `cidr` is not one (a token, a security group). */
function cidrParts(cidr: string): { version: 4 | 6; prefix: number } | undefined {
  const [address, prefix, ...rest] = cidr.split('/');
  if (!address || prefix === undefined || rest.length > 0 || !/^\d{1,3}$/.test(prefix)) return undefined;
  const version = isIPv4(address) ? 4 : isIPv6(address) ? 6 : undefined;
  return version === undefined ? undefined : { version, prefix: Number(prefix) };
}

/** Whether `cidr` is every address of its version, however it is spelled (0.0.0.0/0, ::/0, ::0/0). */
export function everyAddressCidr(cidr: string): boolean {
  return cidrParts(cidr)?.prefix === 0;
}

/** Whether `cidr` reaches too much of the internet (see {@link MIN_PREFIX}), every address excepted. */
export function tooWideCidr(cidr: string): boolean {
  const parts = cidrParts(cidr);
  return parts !== undefined && parts.prefix > 0 && parts.prefix < MIN_PREFIX[parts.version];
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
  // A prefix with a leading zero ("/08") or an address with a zone ("fe80::1%eth0") is no CIDR EC2 takes.
  if (!ipVersion || rest.length > 0 || prefixText === undefined || !/^(0|[1-9]\d{0,2})$/.test(prefixText) || prefix > maxPrefix || address!.includes('%')) {
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
