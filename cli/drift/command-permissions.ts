import type { CommandTableData } from './command-table.js';
import { REDIS_COMMAND_TABLE } from './redis-command-table.js';

/**
 * The commands an access string's command rules allow, evaluated the way Redis builds a user's
 * command bitmap, so that two strings compare by what they allow and not by how they say it.
 *
 * Why text does not do: the engine describes a user in its own words. Redis 6.0–7.0 recompute the
 * rules from the bitmap (acl.c ACLDescribeSelectorCommandRules: categories first, then single
 * commands), so `-@all +@read` may come back as `-@all +@read +@hash … -hset …` (AWS's CreateUser
 * example, aws/aws-cli awscli/examples/elasticache/create-user.rst) and our `+@fast … -@dangerous`
 * as a list of categories and commands; Redis 7.2 keeps the rules as given but drops an earlier rule
 * on the same command or category (acl.c ACLUpdateCommandRules, redis/redis#11224). ElastiCache
 * says "a simpler string may be used instead of the one provided if there are redundancies"
 * (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/Clusters.RBAC.html), and Redis says of
 * ACL GETUSER: "may not be identical to the set of rules used to configure the user, it is still
 * functionally identical" (https://redis.io/docs/latest/commands/acl-getuser/).
 *
 * The rules, per https://redis.io/docs/latest/operate/oss_and_stack/management/security/acl/ and
 * acl.c (ACLSetSelector), applied left to right to a user that starts with no command:
 * - `+@all`/`allcommands` allows every command, also those a later engine or a module adds;
 *   `-@all`/`nocommands` denies every command; both forget earlier first-arg rules;
 * - `±@category` allows/denies each command and subcommand of the category; a container command
 *   in it (CLIENT is `@slow`) takes all its subcommands along;
 * - `±command` allows/denies the command, with all its subcommands if it is a container;
 *   `±container|sub` the one subcommand;
 * - `+command|arg` on a command without subcommands allows that first argument only
 *   (`+select|0`); Redis refuses `-command|arg` and `+container|sub|arg`.
 * The table is the one a real server reported (redis-command-table.ts). A command or category it
 * does not know cannot be evaluated: such a rule is reported, never taken as "the same".
 */
export interface CommandPermissions {
  /** Commands and subcommands (`container|sub`) allowed, as named in the table. */
  readonly allowed: ReadonlySet<string>;
  /** `+@all` in effect: also the commands a later engine or a module adds. */
  readonly future: boolean;
  /** First arguments allowed of commands otherwise denied, as `command|arg`. */
  readonly firstArgs: ReadonlySet<string>;
  /** Rules the table cannot evaluate: an unknown command or category, or a form Redis refuses. */
  readonly unknown: readonly string[];
}

export interface PermissionOptions {
  /** @default the table read from a real server (redis-command-table.ts) */
  readonly table?: CommandTableData;
  /**
   * Only the commands this engine version has (by the table's `since`), e.g. `6.0` for a string a
   * Redis 6.0 engine printed. @default every command of the table
   */
  readonly engineVersion?: string;
}

interface TableIndex {
  readonly engine: string;
  readonly names: readonly string[];
  readonly categories: ReadonlySet<string>;
  readonly byCategory: ReadonlyMap<string, readonly string[]>;
  readonly subcommands: ReadonlyMap<string, readonly string[]>;
}

const versionKey = (version: string) => version.split('.').map((part) => Number.parseInt(part, 10) || 0);
function notAfter(since: string, version: string): boolean {
  const [a, b] = [versionKey(since), versionKey(version)];
  for (let i = 0; i < Math.max(a.length, b.length); i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) < (b[i] ?? 0);
  return true;
}

const indexes = new Map<string, TableIndex>();
function indexOf(table: CommandTableData, engineVersion: string | undefined): TableIndex {
  const cacheKey = `${table.engine}@${engineVersion ?? ''}`;
  const cached = table === REDIS_COMMAND_TABLE ? indexes.get(cacheKey) : undefined;
  if (cached) return cached;
  const names = Object.keys(table.commands).filter((name) => engineVersion === undefined || notAfter(table.commands[name]![1], engineVersion));
  const byCategory = new Map<string, string[]>();
  const subcommands = new Map<string, string[]>();
  for (const name of names) {
    for (const category of table.commands[name]![0].split(' ').filter(Boolean)) byCategory.set(category, [...(byCategory.get(category) ?? []), name]);
    const bar = name.indexOf('|');
    if (bar > 0) subcommands.set(name.slice(0, bar), [...(subcommands.get(name.slice(0, bar)) ?? []), name]);
  }
  const index = { engine: `${table.engine}${engineVersion ? ` as of ${engineVersion}` : ''}`, names, categories: new Set(table.categories), byCategory, subcommands };
  if (table === REDIS_COMMAND_TABLE) indexes.set(cacheKey, index);
  return index;
}

/** The commands `rules` (command rules of one access string, in order) allow; see the interface's comment. */
export function commandPermissions(rules: readonly string[], options: PermissionOptions = {}): CommandPermissions {
  const index = indexOf(options.table ?? REDIS_COMMAND_TABLE, options.engineVersion);
  const known = new Set(index.names);
  const allowed = new Set<string>();
  const firstArgs = new Map<string, Set<string>>();
  const unknown: string[] = [];
  let future = false;
  const set = (name: string, allow: boolean) => {
    for (const each of [name, ...(index.subcommands.get(name) ?? [])]) {
      if (allow) allowed.add(each);
      else allowed.delete(each);
    }
    firstArgs.delete(name);
  };
  for (const rule of rules.map((r) => r.toLowerCase())) {
    const allow = rule.startsWith('+');
    const target = rule.slice(1);
    if (rule === '+@all' || rule === 'allcommands' || rule === '-@all' || rule === 'nocommands') {
      future = rule === '+@all' || rule === 'allcommands';
      allowed.clear();
      if (future) for (const name of index.names) allowed.add(name);
      firstArgs.clear();
    } else if (!/^[+-]./.test(rule)) {
      unknown.push(rule);
    } else if (target.startsWith('@')) {
      const category = target.slice(1);
      if (!index.categories.has(category)) unknown.push(rule);
      else for (const name of index.byCategory.get(category) ?? []) set(name, allow);
    } else if (known.has(target)) {
      set(target, allow);
    } else {
      const bar = target.lastIndexOf('|');
      const command = bar > 0 ? target.slice(0, bar) : '';
      const arg = target.slice(bar + 1);
      // A first argument of a command without subcommands, added only: Redis refuses the other forms.
      if (allow && known.has(command) && !command.includes('|') && !index.subcommands.has(command) && arg !== '') {
        firstArgs.set(command, (firstArgs.get(command) ?? new Set()).add(arg));
      } else {
        unknown.push(rule);
      }
    }
  }
  const effectiveFirstArgs = new Set<string>();
  for (const [command, args] of firstArgs) if (!allowed.has(command)) for (const arg of args) effectiveFirstArgs.add(`${command}|${arg}`);
  return { allowed, future, firstArgs: effectiveFirstArgs, unknown };
}

/** Names of a set of commands, a container with all its subcommands shown as the container alone, at most `max`. */
function shown(names: readonly string[], index: TableIndex, max = 12): string {
  const set = new Set(names);
  const out = names.filter((name) => {
    const bar = name.indexOf('|');
    if (bar < 0) return true;
    const container = name.slice(0, bar);
    return !(set.has(container) && (index.subcommands.get(container) ?? []).every((sub) => set.has(sub)));
  }).sort();
  return out.length <= max ? out.join(' ') : `${out.slice(0, max).join(' ')} … (${out.length - max} more)`;
}

/**
 * How the commands `actual` allows differ from those `expected` allows, one line per aspect; empty
 * when both allow exactly the same. A rule the table cannot evaluate makes the answer "cannot tell".
 */
export function commandDifferences(expected: readonly string[], actual: readonly string[], options: PermissionOptions = {}): string[] {
  const index = indexOf(options.table ?? REDIS_COMMAND_TABLE, options.engineVersion);
  const e = commandPermissions(expected, options);
  const a = commandPermissions(actual, options);
  const unknown = [...new Set([...a.unknown, ...e.unknown])];
  if (unknown.length > 0) {
    return [`cannot tell which commands are allowed: ${unknown.map((r) => `"${r}"`).join(' ')} not a command or category of ${index.engine} (the table this tool evaluates rules with)`];
  }
  const out: string[] = [];
  if (a.future && !e.future) out.push('+@all: every command, also those a later engine or a module adds, where only the listed ones are expected');
  if (e.future && !a.future) out.push('only the listed commands, where +@all (every command, also later ones) is expected');
  const extra = [...a.allowed].filter((name) => !e.allowed.has(name));
  const missing = [...e.allowed].filter((name) => !a.allowed.has(name));
  if (extra.length > 0) out.push(`commands allowed that are not expected: ${shown(extra, index)}`);
  if (missing.length > 0) out.push(`commands denied that are expected: ${shown(missing, index)}`);
  const extraArgs = [...a.firstArgs].filter((x) => !e.firstArgs.has(x));
  const missingArgs = [...e.firstArgs].filter((x) => !a.firstArgs.has(x));
  if (extraArgs.length > 0) out.push(`first arguments allowed that are not expected: ${extraArgs.sort().join(' ')}`);
  if (missingArgs.length > 0) out.push(`first arguments denied that are expected: ${missingArgs.sort().join(' ')}`);
  return out;
}
