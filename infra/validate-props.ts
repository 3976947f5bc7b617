import { Annotations, Token } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { closest } from './config-reader.js';
import { KccCachePropsError } from './errors.js';

/**
 * One validation rule of a construct's props, after aws-cdk's own (`validate-queue-props.ts`):
 * when `condition` holds the props are invalid, and `message` names the prop, the value received
 * and the rule.
 */
export interface ValidationRule<T> {
  readonly condition: (props: T) => boolean;
  readonly message: (props: T) => string;
  /**
   * Checks the shape later rules read (a list is a list, a name a string): when it is broken, the
   * rules after it that are not gates are skipped (they would throw a TypeError, from JavaScript), and
   * are checked once the shape is fixed.
   * @default false
   */
  readonly gate?: boolean;
  /**
   * Said as an info note on the construct instead of refusing the props: for props the construct does
   * not have, which TypeScript lets in through a spread (`{ ...stackProps, vpc }`) as readily as
   * JavaScript lets in a misspelling.
   * @default false
   */
  readonly note?: boolean;
}

/**
 * Checks every rule and throws one {@link KccCachePropsError} listing each broken one (after a broken
 * gate, only the gates: see {@link ValidationRule.gate}).
 */
export function validateProps<T>(scope: IConstruct, constructName: string, props: T, rules: readonly ValidationRule<T>[]): void {
  const problems: string[] = [];
  let gateBroken = false;
  for (const rule of rules) {
    if (gateBroken && !rule.gate) continue;
    if (!rule.condition(props)) continue;
    if (rule.note) {
      Annotations.of(scope).addInfo(rule.message(props));
      continue;
    }
    problems.push(rule.message(props));
    if (rule.gate) gateBroken = true;
  }
  if (problems.length > 0) throw new KccCachePropsError(`${constructName} at "${scope.node.path}"`, problems);
}

/**
 * Each key of `props` that `known` does not name, as a problem (`<path><key> is not a prop of
 * <owner>; did you mean …?`): JavaScript callers' misspelled props would be ignored, and the default
 * would apply. Keys whose value is undefined count too. Not an object: none.
 */
export function unknownPropProblems(props: unknown, known: Readonly<Record<string, true>>, owner: string, path = ''): string[] {
  if (typeof props !== 'object' || props === null || Array.isArray(props)) return [];
  const names = Object.keys(known);
  return Object.keys(props).filter((key) => !Object.hasOwn(known, key) && !(path === '' && Object.hasOwn(STACK_PROP_NAMES, key))).map((key) => {
    const near = nearestName(key, names);
    const shown = key.length > 60 ? `${key.slice(0, 57)}...` : key;
    return `${path}${shown} is not a prop of ${owner}, ignored${near ? ` (did you mean ${path}${near}?)` : ` (its props are ${names.join(', ')})`}`;
  });
}

/** StackProps' names: a construct's props spread from a stack's (`{ ...props, vpc }`) carry them; not worth a note. */
const STACK_PROP_NAMES: Readonly<Record<string, true>> = {
  env: true, stackName: true, description: true, tags: true, terminationProtection: true, analyticsReporting: true, synthesizer: true,
  crossRegionReferences: true, permissionsBoundary: true, suppressTemplateIndentation: true, notificationArns: true, propertyInjectors: true,
};

/** The name `key` was likely meant to be: the same but for case, the only one containing it or contained in it, or a few edits away. */
function nearestName(key: string, names: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  const same = names.find((name) => name.toLowerCase() === lower);
  if (same) return same;
  const related = lower.length >= 4 ? names.filter((name) => name.toLowerCase().includes(lower) || lower.includes(name.toLowerCase())) : [];
  if (related.length === 1) return related[0];
  return closest(key, names);
}

/** Whether a concrete number lies outside [min, max] or is not whole; tokens are left to deploy time. */
export function notWholeIn(value: number | undefined, min: number, max: number): boolean {
  if (value === undefined || Token.isUnresolved(value)) return false;
  return !Number.isInteger(value) || value < min || value > max;
}

/** Whether a string is concrete (not a token) and breaks `problem`. */
export function concreteProblem(value: string | undefined, problem: (v: string) => string | undefined): string | undefined {
  if (value === undefined || Token.isUnresolved(value)) return undefined;
  return problem(value);
}

/** A value as it appears in a message. */
export function show(value: unknown): string {
  return value === undefined ? 'undefined' : JSON.stringify(value);
}
