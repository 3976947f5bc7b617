/**
 * A locale compiled into a folder of its own, for a process started with the environment this
 * returns (glibc reads `LOCPATH` first): no root, nothing installed system-wide. Needs localedef
 * (libc-bin) and the locale sources of the Debian package `locales` (/usr/share/i18n), which the
 * integration tests' setup installs (ensure-test-packages.ts).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A compiled locale: `env` selects it; `remove` deletes its folder. */
export interface CompiledLocale {
  readonly env: Readonly<Record<string, string>>;
  remove(): Promise<void>;
}

/** Compiles `locale` (e.g. `en_US`) with the charmap `charmap` as `<locale>.<charmap>`. */
export async function compileLocale(locale: string, charmap = 'UTF-8'): Promise<CompiledLocale> {
  const dir = await mkdtemp(join(tmpdir(), 'kcc-locale-'));
  const name = `${locale}.${charmap}`;
  try {
    await run('localedef', ['-i', locale, '-f', charmap, join(dir, name)], { timeout: 60_000 });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`localedef could not compile ${name} (the Debian package \`locales\` holds its sources): ${(error as Error).message}`);
  }
  return { env: { LOCPATH: dir, LC_ALL: name }, remove: () => rm(dir, { recursive: true, force: true }) };
}
