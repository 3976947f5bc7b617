import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CLIENT_VERSION } from '../../../client/src/version.js';

describe('CLIENT_VERSION (what heartbeats report)', () => {
  it('is the version in client/package.json', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../../client/package.json', import.meta.url), 'utf8')) as { version: string };
    expect(CLIENT_VERSION).toBe(pkg.version);
  });
});
