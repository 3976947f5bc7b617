import { KccConfigError } from '../errors.js';

const SUBJECT = 'kcc-redis AWS configuration';

/**
 * Loads an AWS SDK v3 client package on first use, so apps that pass credentials explicitly do not
 * need the SDK installed. The error says which package to install and which option needed it.
 * `subpath` names a package export (e.g. `/checksum` of `@smithy/core`); the error still names the package.
 */
export async function loadSdk<T>(packageName: string, neededFor: string, subpath = ''): Promise<T> {
  try {
    return (await import(packageName + subpath)) as T;
  } catch (cause) {
    throw new KccConfigError(SUBJECT, [`${neededFor} needs the optional dependency ${packageName}: run \`npm install ${packageName}\``], { cause });
  }
}

/**
 * Waits for every load (a tuple of {@link loadSdk} calls and the like). When packages are missing,
 * one `KccConfigError` names each of them once, so that one `npm install` fixes them all.
 */
export async function loadAll<T extends readonly unknown[] | []>(loads: T): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const settled = await Promise.allSettled(loads);
  const failures = settled.flatMap((result) => (result.status === 'rejected' ? [result.reason as unknown] : []));
  if (failures.length === 0) return settled.map((result) => (result as PromiseFulfilledResult<unknown>).value) as { -readonly [K in keyof T]: Awaited<T[K]> };
  const other = failures.find((failure) => !(failure instanceof KccConfigError));
  if (other !== undefined) throw other;
  const missing = failures as KccConfigError[];
  if (missing.length === 1) throw missing[0];
  throw new KccConfigError(SUBJECT, [...new Set(missing.flatMap((error) => error.problems))], { cause: missing[0]!.cause });
}
