import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KccContextError, configErrorReport, configOrigin, kccFromCommandLine } from '../../../cli/cdk-app.js';
import { parseConfig } from '../../../infra/config.js';
import { KccCachePropsError, KccStackConfigError } from '../../../infra/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'kcc-cdk-app-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function thrown(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

describe('-c kcc=\'<json>\': the config given on the command line', () => {
  it('parses the string the CDK CLI hands over (CDK_CONTEXT_JSON)', () => {
    const env = { CDK_CONTEXT_JSON: JSON.stringify({ kcc: '{"apps":["my-app"]}', other: 'x' }) };
    expect(kccFromCommandLine(env)).toEqual({ kcc: { apps: ['my-app'] } });
    expect(configOrigin(env)).toBe('-c kcc=…');
  });

  it('reads the overflow file the CLI uses for large context, as aws-cdk-lib does', () => {
    const file = join(dir, 'overflow.json');
    writeFileSync(file, JSON.stringify({ kcc: '{"apps":["big"]}' }));
    expect(kccFromCommandLine({ CONTEXT_OVERFLOW_LOCATION_ENV: file })).toEqual({ kcc: { apps: ['big'] } });
  });

  it('leaves an object from cdk.json (or no config) to the config parser, and names cdk.json as the origin', () => {
    const env = { CDK_CONTEXT_JSON: JSON.stringify({ kcc: { apps: ['my-app'] } }) };
    expect(kccFromCommandLine(env)).toBeUndefined();
    expect(kccFromCommandLine({})).toBeUndefined();
    expect(configOrigin(env)).toBe('cdk.json "context.kcc"');
  });

  it('refuses a string that is not JSON, saying how to quote it (and not blaming cdk.json)', () => {
    const env = { CDK_CONTEXT_JSON: JSON.stringify({ kcc: '{apps:[my-app]}' }) };
    const error = thrown(() => kccFromCommandLine(env));
    expect(error).toBeInstanceOf(KccContextError);
    const report = configErrorReport(error, configOrigin(env))!;
    expect(report).toMatch(/^Invalid kcc config \(-c kcc=…\): 1 problem:\n {2}- -c kcc=…: not JSON \(.+\); quote it for the shell, e\.g\. -c kcc='\{"apps":\["my-app"\]\}'\n$/);
    expect(report).not.toContain('cdk.json');
  });
});

describe('config errors as one clean list', () => {
  it('one line per problem, counted right, no stack trace, nothing twice', () => {
    expect(configErrorReport(thrown(() => parseConfig({ apps: ['a'], port: 0, replicas: 99 })), 'cdk.json "context.kcc"')).toBe(
      'Invalid kcc config (cdk.json "context.kcc"): 2 problems:\n  - replicas: 99 must be a whole number from 0 to 5\n  - port: 0 must be a whole number from 1 to 65535\n',
    );
    expect(configErrorReport(thrown(() => parseConfig({ apps: ['a'], port: 0 })), '-c kcc=…')).toBe('Invalid kcc config (-c kcc=…): 1 problem:\n  - port: 0 must be a whole number from 1 to 65535\n');
  });

  it('the errors themselves count right too', () => {
    expect(new KccStackConfigError(['x']).message).toBe('Invalid kcc config (cdk.json "context.kcc"): 1 problem:\n  - x');
    expect(new KccCachePropsError('KccRedisCache (Stack/Cache)', ['a', 'b']).message).toBe('Invalid props for KccRedisCache (Stack/Cache): 2 problems:\n  - a\n  - b');
    expect(configErrorReport(new KccCachePropsError('KccRedisCache (Stack/Cache)', ['a']), 'x')).toBe('Invalid props for KccRedisCache (Stack/Cache): 1 problem:\n  - a\n');
  });

  it('leaves any other error alone (a bug keeps its stack trace)', () => {
    expect(configErrorReport(new TypeError('boom'), 'x')).toBeUndefined();
  });
});
