/**
 * No Lua script of the client calls TIME: ElastiCache Serverless refuses it inside scripts ("ERR This
 * Redis command is not allowed from script"; see client/src/server-clock.ts). The integration test
 * scripts-without-time.test.ts runs the write paths against a user denied TIME; this check also covers
 * the scripts that test cannot reach without a realm (the Keycloak push relay).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SOURCE = fileURLToPath(new URL('../../../client/src', import.meta.url));

async function sources(): Promise<{ file: string; text: string }[]> {
  const files = (await readdir(SOURCE, { recursive: true })).filter((f) => f.endsWith('.ts'));
  return Promise.all(files.map(async (file) => ({ file, text: await readFile(join(SOURCE, file), 'utf8') })));
}

describe('Lua scripts', () => {
  it('none calls TIME (the time comes in as an argument, from the server clock estimate)', async () => {
    const all = await sources();
    const scripts = all.filter(({ text }) => /redis\.p?call\(/.test(text));
    expect(scripts.length).toBeGreaterThanOrEqual(5); // the search finds the scripts at all
    const callingTime = scripts.filter(({ text }) => /redis\.p?call\(\s*['"]time['"]/i.test(text)).map(({ file }) => file);
    expect(callingTime).toEqual([]);
  });
});
