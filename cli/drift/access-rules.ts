import { type PermissionOptions, commandDifferences } from './command-permissions.js';

/**
 * Access strings compared by meaning, not by text. ElastiCache may return a user's access string in
 * another form than the one given: "a simpler string may be used instead of the one provided if there
 * are redundancies" (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/Clusters.RBAC.html); its
 * examples show `off +get ~keys*` returned as `off ~keys* -@all +get` (User-Secrets-Manager.html) and
 * `-@all +@read` returned with its categories spelled out (aws/aws-cli
 * awscli/examples/elasticache/create-user.rst). What a string means, per Redis' ACL rules
 * (https://redis.io/docs/latest/operate/oss_and_stack/management/security/acl/):
 * - `on`/`off`: the last one wins;
 * - key patterns (`~p`, `%R~p`, `%W~p`, `allkeys`) and channel patterns (`&p`, `allchannels`) are
 *   sets: their order does not matter; `resetkeys`/`resetchannels` empty them;
 * - command rules (`+cmd`, `-cmd`, `+@cat`, `-@cat`, `+cmd|sub`): compared by the commands they allow
 *   (command-permissions.ts), so redundant rules, an order that changes nothing, or a category spelled
 *   out as its commands are the same, and an order that changes what is allowed is not;
 * - `nopass` lets anyone log in with any password: it never belongs to our users.
 * Selectors `(…)` are compared as text (the stack sets none).
 */
export interface AccessRules {
  readonly enabled: boolean;
  /** Key patterns, sorted. */
  readonly keys: readonly string[];
  /** Channel patterns, sorted. */
  readonly channels: readonly string[];
  /** Command rules, in order (rules before the last `+@all`/`-@all` dropped: they change nothing). */
  readonly commands: readonly string[];
  /** Selectors `(…)`, sorted. */
  readonly selectors: readonly string[];
  readonly nopass: boolean;
  /** Tokens this reader does not know (reported, never ignored). */
  readonly unknown: readonly string[];
}

/** Splits an access string into rules, keeping a selector `( … )` as one rule. */
function tokens(accessString: string): string[] {
  const out: string[] = [];
  const pattern = /\([^)]*\)|\S+/g;
  for (const match of accessString.matchAll(pattern)) out.push(match[0]);
  return out;
}

/** The meaning of an access string (see the module comment). */
export function accessRules(accessString: string): AccessRules {
  let enabled = false;
  let nopass = false;
  let keys = new Set<string>();
  let channels = new Set<string>();
  let commands: string[] = [];
  let selectors = new Set<string>();
  const unknown: string[] = [];
  for (const rule of tokens(accessString)) {
    const lower = rule.toLowerCase();
    if (lower === 'on' || lower === 'off') enabled = lower === 'on';
    else if (lower === 'nopass') nopass = true;
    else if (lower === 'resetpass') nopass = false;
    else if (lower === 'resetkeys') keys = new Set();
    else if (lower === 'resetchannels') channels = new Set();
    else if (lower === 'clearselectors') selectors = new Set();
    else if (lower === 'reset') {
      enabled = false;
      nopass = false;
      keys = new Set();
      channels = new Set();
      commands = [];
      selectors = new Set();
    } else if (lower === 'allkeys') keys.add('~*');
    else if (lower === 'allchannels') channels.add('&*');
    else if (lower === 'allcommands' || lower === '+@all') commands = ['+@all'];
    else if (lower === 'nocommands' || lower === '-@all') commands = ['-@all'];
    else if (/^(%(r|w|rw)~|~)/i.test(rule)) keys.add(rule.replace(/^%rw~/i, '~').replace(/^%(r|w)~/i, (m) => m.toUpperCase()));
    else if (rule.startsWith('&')) channels.add(rule);
    else if (/^[+-]/.test(rule)) commands.push(lower);
    else if (rule.startsWith('(') && rule.endsWith(')')) selectors.add(rule);
    else if (/^[<>#!]/.test(rule)) continue; // password rules: not in an ElastiCache access string, and never compared
    else unknown.push(rule);
  }
  const sorted = (s: Set<string>) => [...s].sort();
  return { enabled, keys: sorted(keys), channels: sorted(channels), commands, selectors: sorted(selectors), nopass, unknown };
}

/**
 * How `actual` differs from `expected` in meaning, one line per aspect; empty when they mean the same.
 * Command rules are compared by the commands they allow (commandDifferences), not by their text.
 */
export function accessDifferences(expected: string, actual: string, options: PermissionOptions = {}): string[] {
  const e = accessRules(expected);
  const a = accessRules(actual);
  const out: string[] = [];
  if (e.enabled !== a.enabled) out.push(`${a.enabled ? 'on' : 'off'} where ${e.enabled ? 'on' : 'off'} is expected`);
  if (a.nopass && !e.nopass) out.push('nopass: anyone can log in as this user with any password');
  const sets = [['key patterns', e.keys, a.keys], ['channel patterns', e.channels, a.channels], ['selectors', e.selectors, a.selectors]] as const;
  for (const [what, want, have] of sets) {
    const added = have.filter((p) => !want.includes(p));
    const missing = want.filter((p) => !have.includes(p));
    if (added.length > 0) out.push(`${what} added: ${added.join(' ')}`);
    if (missing.length > 0) out.push(`${what} missing: ${missing.join(' ')}`);
  }
  out.push(...commandDifferences(e.commands, a.commands, options));
  if (a.unknown.length > 0) out.push(`rules this tool does not know: ${a.unknown.join(' ')}`);
  return out;
}
