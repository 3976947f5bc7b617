import { isRecord } from './cfn-template.js';

/**
 * Template values made comparable across two deployments. Literals stay literals; intrinsic
 * functions become tagged objects whose equality means "resolves to the same value":
 * - `{ $ref }` / `{ $att }`: a reference whose value is the same in both deployments;
 * - `{ $new }`: the value of a resource that gets a new physical id (replaced or added): it differs
 *   from anything the previous deployment had;
 * - `{ $unknown }`: a value that may change, with the reason;
 * - `{ $join }`: a string built from parts (`Fn::Join`, `Fn::Sub`), literal parts merged, so the
 *   same string built two ways compares equal;
 * - `{ $fn, args }`: any other function, kept unevaluated (CloudFormation evaluates it at deploy time).
 * Intrinsic functions: https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/intrinsic-function-reference.html
 */
export type Canonical = null | boolean | number | string | readonly Canonical[] | { readonly [key: string]: Canonical };

/** What the planner knows about the new deployment while it evaluates references. */
export interface ResolveScope {
  /** `previous` values are what is deployed: every reference is stable there. */
  readonly side: 'previous' | 'current';
  /** Logical ids that get a new physical id in the current deployment (replaced, blocked-if-renamed, or added). */
  readonly renewed: ReadonlySet<string>;
  /** Logical ids that may be replaced (undecided). */
  readonly mayRenew: ReadonlySet<string>;
  /** Logical ids updated in place: attributes other than ids and ARNs may change. */
  readonly updated: ReadonlySet<string>;
}

/**
 * Attributes derived from a resource's identity (its ARN, id or name) keep their value when the
 * resource is updated in place; CloudFormation changes the physical id only on replacement
 * ("Update with No Interruption ... without changing the resource's physical ID", update behaviours
 * page), and so do the DNS names derived from it (endpoint addresses). Other attributes (a port, a
 * version) may change in place: the planner says "may change" for them.
 */
const IDENTITY_ATTRIBUTE = /(Arn|Id|Name|Address|DnsName)$/;

/** The canonical form of a template value under `scope`. */
export function canonical(value: unknown, scope: ResolveScope): Canonical {
  if (Array.isArray(value)) return value.map((item) => canonical(item, scope));
  if (!isRecord(value)) return value as Canonical;
  const keys = Object.keys(value);
  if (keys.length === 1) {
    const key = keys[0]!;
    const arg = value[key];
    if (key === 'Ref' && typeof arg === 'string') return reference(arg, undefined, scope);
    if (key === 'Fn::GetAtt') return getAtt(arg, scope);
    if (key === 'Fn::Join') return join(arg, scope);
    if (key === 'Fn::Sub') return sub(arg, scope);
    if (key.startsWith('Fn::')) return { $fn: key, args: canonical(arg, scope) };
  }
  const out: Record<string, Canonical> = {};
  for (const key of keys) out[key] = canonical(value[key], scope);
  return out;
}

function reference(target: string, attribute: string | undefined, scope: ResolveScope): Canonical {
  const label = attribute === undefined ? target : `${target}.${attribute}`;
  const stable: Canonical = attribute === undefined ? { $ref: target } : { $att: label };
  if (scope.side === 'previous') return stable;
  if (scope.renewed.has(target)) return { $new: label };
  if (scope.mayRenew.has(target)) return { $unknown: `${target} may be replaced` };
  if (attribute !== undefined && scope.updated.has(target) && !IDENTITY_ATTRIBUTE.test(attribute)) {
    return { $unknown: `${label} may change: ${target} is updated` };
  }
  return stable;
}

function getAtt(arg: unknown, scope: ResolveScope): Canonical {
  let target: unknown;
  let attribute: unknown;
  if (typeof arg === 'string') {
    const dot = arg.indexOf('.');
    [target, attribute] = dot < 0 ? [arg, ''] : [arg.slice(0, dot), arg.slice(dot + 1)];
  } else if (Array.isArray(arg)) {
    [target, attribute] = arg;
  }
  if (typeof target !== 'string' || typeof attribute !== 'string') return { $fn: 'Fn::GetAtt', args: canonical(arg, scope) };
  return reference(target, attribute, scope);
}

function join(arg: unknown, scope: ResolveScope): Canonical {
  if (!Array.isArray(arg) || arg.length !== 2 || typeof arg[0] !== 'string' || !Array.isArray(arg[1])) {
    return { $fn: 'Fn::Join', args: canonical(arg, scope) };
  }
  const [separator, items] = arg as [string, unknown[]];
  const parts: Canonical[] = [];
  items.forEach((item, i) => {
    if (i > 0) parts.push(separator);
    parts.push(canonical(item, scope));
  });
  return concat(parts);
}

/** `Fn::Sub`: `${Name}`, `${Name.Attribute}` and `${!Literal}` in a string, with optional variables. */
function sub(arg: unknown, scope: ResolveScope): Canonical {
  let text: unknown = arg;
  let variables: Record<string, unknown> = {};
  if (Array.isArray(arg)) {
    [text] = arg;
    if (isRecord(arg[1])) variables = arg[1];
  }
  if (typeof text !== 'string') return { $fn: 'Fn::Sub', args: canonical(arg, scope) };
  const parts: Canonical[] = [];
  let last = 0;
  for (const match of text.matchAll(/\$\{([^}]*)\}/g)) {
    parts.push(text.slice(last, match.index));
    last = match.index + match[0].length;
    const name = match[1]!.trim();
    if (name.startsWith('!')) {
      parts.push(`\${${name.slice(1)}}`);
    } else if (name in variables) {
      parts.push(canonical(variables[name], scope));
    } else {
      const dot = name.indexOf('.');
      parts.push(dot < 0 ? reference(name, undefined, scope) : reference(name.slice(0, dot), name.slice(dot + 1), scope));
    }
  }
  parts.push(text.slice(last));
  return concat(parts);
}

/** Merges adjacent literal parts; a string of literals only is that string. */
function concat(parts: readonly Canonical[]): Canonical {
  const merged: Canonical[] = [];
  for (const part of parts) {
    const previous = merged[merged.length - 1];
    if (typeof part === 'number' || typeof part === 'boolean') {
      merged.push(String(part));
    } else if (typeof part === 'string' && typeof previous === 'string') {
      merged[merged.length - 1] = previous + part;
    } else if (part !== '') {
      merged.push(part);
    }
  }
  if (merged.length === 0) return '';
  if (merged.length === 1 && typeof merged[0] === 'string') return merged[0];
  return { $join: merged };
}

/** Deep equality of canonical values (key order ignored). */
export function sameValue(a: Canonical, b: Canonical): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((item, i) => sameValue(item, b[i]!));
  }
  if (!isRecord(a) || !isRecord(b)) return false;
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((key) => key in b && sameValue(a[key] as Canonical, b[key] as Canonical));
}

/** Why a changed value's new content is not known before deploy, if it is not; undefined when the change is certain. */
export function uncertainty(previous: Canonical | undefined, current: Canonical | undefined): string | undefined {
  const renewed = find(current, '$new');
  if (renewed !== undefined) return undefined; // a new physical id: the value changes for certain
  const unknown = find(current, '$unknown');
  if (unknown !== undefined) return unknown;
  for (const side of [previous, current]) {
    const fn = find(side, '$fn');
    if (fn !== undefined) return `computed by ${fn} at deploy time`;
    const dynamic = findDynamicReference(side);
    if (dynamic !== undefined) return `dynamic reference {{resolve:${dynamic}:…}} resolved at deploy time`;
  }
  return undefined;
}

/** The names of resources whose renewal makes this value change, for the "why" column. */
export function renewedTargets(value: Canonical | undefined): string[] {
  const found: string[] = [];
  walk(value, (node) => {
    if (isRecord(node) && typeof node.$new === 'string') found.push(node.$new);
  });
  return found;
}

function find(value: Canonical | undefined, tag: string): string | undefined {
  let found: string | undefined;
  walk(value, (node) => {
    if (found === undefined && isRecord(node) && typeof node[tag] === 'string') found = node[tag] as string;
  });
  return found;
}

function findDynamicReference(value: Canonical | undefined): string | undefined {
  let found: string | undefined;
  walk(value, (node) => {
    const match = typeof node === 'string' ? /\{\{resolve:([a-z-]+):/.exec(node) : null;
    if (found === undefined && match) found = match[1];
  });
  return found;
}

function walk(value: Canonical | undefined, visit: (node: Canonical) => void): void {
  if (value === undefined) return;
  visit(value);
  if (Array.isArray(value)) for (const item of value) walk(item, visit);
  else if (isRecord(value)) for (const item of Object.values(value)) walk(item as Canonical, visit);
}
