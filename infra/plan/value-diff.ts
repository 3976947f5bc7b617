import { isRecord } from './cfn-template.js';
import { type Canonical, sameValue } from './intrinsics.js';

/** One place where two canonical values differ. */
export interface ValueChange {
  /** Property names and array indexes, the top-level property first. */
  readonly path: readonly (string | number)[];
  /** Undefined when the property is absent on that side. */
  readonly previous: Canonical | undefined;
  readonly current: Canonical | undefined;
}

/**
 * The innermost places where `previous` and `current` differ. Objects are compared key by key and
 * lists of equal length item by item, so a change reports the nested property that decides its
 * update behaviour; evaluated values (`$join`, `$ref`, …) are leaves.
 */
export function diffValues(previous: Canonical | undefined, current: Canonical | undefined, path: readonly (string | number)[] = []): ValueChange[] {
  if (previous !== undefined && current !== undefined && sameValue(previous, current)) return [];
  if (isPlainObject(previous) && isPlainObject(current)) {
    const keys = [...new Set([...Object.keys(previous), ...Object.keys(current)])];
    return keys.flatMap((key) => diffValues(previous[key] as Canonical | undefined, current[key] as Canonical | undefined, [...path, key]));
  }
  if (Array.isArray(previous) && Array.isArray(current) && previous.length === current.length) {
    return previous.flatMap((item: Canonical, i) => diffValues(item, current[i] as Canonical, [...path, i]));
  }
  return [{ path, previous, current }];
}

/** A template object, not one of the canonical forms of an intrinsic function (`{ $ref }`, `{ $join }`, …). */
function isPlainObject(value: Canonical | undefined): value is { readonly [key: string]: Canonical } {
  return isRecord(value) && !Object.keys(value).some((key) => key.startsWith('$'));
}

/** `NodeGroupConfiguration[0].ReplicaCount` */
export function formatPath(path: readonly (string | number)[]): string {
  return path.map((step, i) => (typeof step === 'number' ? `[${step}]` : i === 0 ? step : `.${step}`)).join('');
}
