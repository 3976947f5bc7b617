import { KccConfigError } from '../errors.js';

/**
 * Loads an AWS SDK v3 client package on first use, so apps that pass credentials explicitly do not
 * need the SDK installed. The error says which package to install and which option needed it.
 * `subpath` names a package export (e.g. `/checksum` of `@smithy/core`); the error still names the package.
 */
export async function loadSdk<T>(packageName: string, neededFor: string, subpath = ''): Promise<T> {
  try {
    return (await import(packageName + subpath)) as T;
  } catch (cause) {
    throw new KccConfigError(
      'kcc-redis AWS configuration',
      [`${neededFor} needs the optional dependency ${packageName}: run \`npm install ${packageName}\``],
      { cause },
    );
  }
}
