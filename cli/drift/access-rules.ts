/**
 * Access strings compared by meaning, not by text. ElastiCache returns a user's access string as it
 * stores it, without the directives `clearselectors`, `resetkeys` and `resetchannels` (the setup
 * guide's note; https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/Clusters.RBAC.html), and a
 * console edit may reorder rules. What a string means, per Redis' ACL rules
 * (https://redis.io/docs/latest/operate/oss_and_stack/management/security/acl/):
 * - `on`/`off`: the last one wins;
 * - key patterns (`~p`, `%R~p`, `%W~p`, `allkeys`) and channel patterns (`&p`, `allchannels`) are
 *   sets: their order does not matter; `resetkeys`/`resetchannels` empty them;
 * - command rules (`+cmd`, `-cmd`, `+@cat`, `-@cat`, `+cmd|sub`) apply in order, so their order
 *   matters, except that `+@all`/`allcommands` and `-@all`/`nocommands` override every rule before them;
 * - `nopass` lets anyone log in with any password: it never belongs to our users.
 */
export interface AccessRules {
  readonly enabled: boolean;
  /** Key patterns, sorted. */
  readonly keys: readonly string[];
  /** Channel patterns, sorted. */
  readonly channels: readonly string[];
  /** Command rules in effect, in order (rules before the last `+@all`/`-@all` dropped). */
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
 * Command rules are shown where they start to differ.
 */
export function accessDifferences(expected: string, actual: string): string[] {
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
  if (e.commands.join(' ') !== a.commands.join(' ')) {
    let i = 0;
    while (i < e.commands.length && i < a.commands.length && e.commands[i] === a.commands[i]) i++;
    const lead = i > 0 ? `after "${e.commands.slice(Math.max(0, i - 2), i).join(' ')}" ` : '';
    const found = a.commands.slice(i).join(' ') || '(nothing)';
    const wanted = e.commands.slice(i).join(' ') || '(nothing)';
    out.push(`command rules ${lead}are "${found}" where "${wanted}" is expected`);
  }
  if (a.unknown.length > 0) out.push(`rules this tool does not know: ${a.unknown.join(' ')}`);
  return out;
}
