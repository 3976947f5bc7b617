import { Token } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { KccCachePropsError } from './errors.js';

/**
 * One validation rule of a construct's props, after aws-cdk's own (`validate-queue-props.ts`):
 * when `condition` holds the props are invalid, and `message` names the prop, the value received
 * and the rule.
 */
export interface ValidationRule<T> {
  readonly condition: (props: T) => boolean;
  readonly message: (props: T) => string;
}

/** Checks every rule and throws one {@link KccCachePropsError} listing each broken one. */
export function validateProps<T>(scope: IConstruct, constructName: string, props: T, rules: readonly ValidationRule<T>[]): void {
  const problems = rules.filter((rule) => rule.condition(props)).map((rule) => rule.message(props));
  if (problems.length > 0) throw new KccCachePropsError(`${constructName} at "${scope.node.path}"`, problems);
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
