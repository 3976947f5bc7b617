import { type ParseArgsConfig, parseArgs } from 'node:util';
import { CliUsageError } from './exit-codes.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** The values parseArgs gives for an option set (strings, booleans, repeated strings). */
export type ParsedValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

/**
 * Parses a command's arguments strictly (unknown options and stray words are usage errors that
 * name the command) with `-h/--help` added.
 */
export function parseCommandArgs(command: string, argv: readonly string[], options: Options): { values: ParsedValues; help: boolean } {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false, tokens: true });
  } catch (error) {
    throw new CliUsageError((error as Error).message.replace(/\. To specify a positional argument.*$/s, ''), command);
  }
  refuseRepeated(command, parsed.tokens, options);
  const { help, ...rest } = parsed.values as ParsedValues & { help?: boolean };
  return { values: rest, help: help === true };
}

type Token = NonNullable<ReturnType<typeof parseArgs>['tokens']>[number];

/**
 * parseArgs keeps the last of a repeated option: `--sid a --sid b` would revoke b alone, `--app
 * blog --env dev --app shop` work in shop-dev. Only the options marked `multiple` may be given more
 * than once; any other repeated is a usage error naming it.
 */
function refuseRepeated(command: string, tokens: readonly Token[], options: Options): void {
  const seen = new Set<string>();
  for (const token of tokens) {
    if (token.kind !== 'option' || token.name === 'help' || options[token.name]?.multiple === true) continue;
    if (seen.has(token.name)) throw new CliUsageError(`--${token.name} is given more than once; give it once (otherwise only the last would count)`, command);
    seen.add(token.name);
  }
}

/**
 * For a command that parses its own arguments (plan): a repeated option of `options` is a usage
 * error; anything else is left to the command.
 */
export function refuseRepeatedOptions(command: string, argv: readonly string[], options: Options): void {
  const { tokens } = parseArgs({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true });
  refuseRepeated(command, tokens, options);
}

/** A string option's value, or undefined. */
export function stringOption(values: ParsedValues, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

/** A repeatable string option's values. */
export function stringList(values: ParsedValues, name: string): string[] {
  const value = values[name];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return typeof value === 'string' ? [value] : [];
}

/** A whole number option within bounds, or undefined when it is not given; a usage error names the option and the rule. */
export function optionalIntegerOption(command: string, values: ParsedValues, name: string, min: number, max: number): number | undefined {
  const raw = stringOption(values, name);
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < min || value > max) throw new CliUsageError(`--${name} "${raw}" must be a whole number from ${min} to ${max}`, command);
  return value;
}

/** A whole number option within bounds, or the default ({@link optionalIntegerOption}). */
export function integerOption(command: string, values: ParsedValues, name: string, fallback: number, min: number, max: number): number {
  return optionalIntegerOption(command, values, name, min, max) ?? fallback;
}

/** A whole number option within bounds that must be given: without it, a usage error saying `missing`. */
export function requiredIntegerOption(command: string, values: ParsedValues, name: string, min: number, max: number, missing: string): number {
  const value = optionalIntegerOption(command, values, name, min, max);
  if (value === undefined) throw new CliUsageError(missing, command);
  return value;
}
