import { describe, expect, it } from 'vitest';
import { KccStackConfigError, parseConfig } from '../../../infra/index.js';

function problemsOf(raw: object): readonly string[] {
  try {
    parseConfig(raw);
  } catch (error) {
    if (error instanceof KccStackConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected parseConfig to reject the config');
}

const SERVERLESS = { deployment: 'serverless', apps: ['my-app'] };

describe('config: "deployment": "serverless"', () => {
  it('stays a replication group by default', () => {
    expect(parseConfig({ apps: ['a'] }).deployment).toBe('replication-group');
  });

  it('has stated defaults: Valkey major 8, 1 GB, 5,000 ECPUs per second, a snapshot at 03:00 kept 1 day', () => {
    expect(parseConfig(SERVERLESS)).toMatchObject({
      deployment: 'serverless', engine: 'valkey', engineVersion: '8', maxDataStorageGb: 1, maxEcpuPerSecond: 5000,
      dailySnapshotTime: '03:00', snapshotRetentionDays: 1, removalPolicy: 'snapshot',
    });
    expect(parseConfig({ ...SERVERLESS, engine: 'redis' }).engineVersion).toBe('7');
  });

  it.each([['valkey', ['7', '8', '9']], ['redis', ['7']]] as const)('accepts every %s major version ElastiCache Serverless offers', (engine, versions) => {
    for (const engineVersion of versions) expect(parseConfig({ ...SERVERLESS, engine, engineVersion }).engineVersion).toBe(engineVersion);
  });

  it.each<[string, object, RegExp]>([
    ['port (a serverless cache listens on 6379 and 6380)', { port: 6380 },
      /^port: 6380 does not apply to "deployment": "serverless": a serverless cache listens on 6379 \(and 6380 for its reader endpoint\); remove "port"$/],
    ['even the default port, when written', { port: 6379 }, /^port: 6379 does not apply to "deployment": "serverless"/],
    ['nodeType', { nodeType: 'cache.t4g.small' }, /^nodeType: "cache\.t4g\.small" configures a replication group and does not apply to "deployment": "serverless"; remove it$/],
    ['replicas', { replicas: 2 }, /^replicas: 2 configures a replication group/],
    ['shards', { shards: 3 }, /^shards: 3 configures a replication group/],
    ['maintenanceWindow', { maintenanceWindow: 'mon:05:00-mon:06:00' }, /^maintenanceWindow: "mon:05:00-mon:06:00" configures a replication group/],
    ['snapshotWindow', { snapshotWindow: '01:00-02:00' }, /^snapshotWindow: "01:00-02:00" configures a replication group/],
    ['a version with a minor', { engineVersion: '8.1' }, /^engineVersion: "8\.1" is not a valkey major version ElastiCache Serverless offers; valid: 7, 8, 9 \(a serverless cache takes the major version only, e\.g\. "8"/],
    ['a redis major it does not offer', { engine: 'redis', engineVersion: '6' }, /^engineVersion: "6" is not a redis major version ElastiCache Serverless offers; valid: 7$/],
    ['no daily snapshot', { snapshotRetentionDays: 0 }, /^snapshotRetentionDays: 0 does not apply to "deployment": "serverless": a serverless cache always takes its daily snapshot; keep it 1 to 35 days$/],
    ['a storage limit below 1 GB', { maxDataStorageGb: 0 }, /^maxDataStorageGb: 0 must be a whole number from 1 to 5000$/],
    ['a storage limit in fractions', { maxDataStorageGb: 1.5 }, /^maxDataStorageGb: 1\.5 must be a whole number from 1 to 5000$/],
    ['an ECPU limit below 1,000', { maxEcpuPerSecond: 999 }, /^maxEcpuPerSecond: 999 must be a whole number from 1000 to 15000000$/],
    ['an ECPU limit past 15 million', { maxEcpuPerSecond: 15_000_001 }, /^maxEcpuPerSecond: 15000001 must be a whole number from 1000 to 15000000$/],
    ['a snapshot time that is not hh24:mi', { dailySnapshotTime: '3am' }, /^dailySnapshotTime: "3am" must look like "04:00" \(hh24:mi, UTC\)$/],
    ['a replication-group alarm threshold', { alarms: { memoryPercent: 70 } }, /^alarms\.memoryPercent: 70 is a threshold of replication-group alarms only; remove it/],
    ['an unknown deployment', { deployment: 'nodes' }, /^deployment: "nodes" must be one of "replication-group", "serverless"$/],
  ])('refuses %s', (_name, extra, message) => {
    const problems = problemsOf({ ...SERVERLESS, ...extra });
    expect(problems).toEqual(expect.arrayContaining([expect.stringMatching(message)]));
  });

  it.each<[string, object, RegExp]>([
    ['maxDataStorageGb', { maxDataStorageGb: 5 }, /^maxDataStorageGb: 5 configures a serverless cache; add "deployment": "serverless", or remove it$/],
    ['maxEcpuPerSecond', { maxEcpuPerSecond: 5000 }, /^maxEcpuPerSecond: 5000 configures a serverless cache/],
    ['dailySnapshotTime', { dailySnapshotTime: '04:00' }, /^dailySnapshotTime: "04:00" configures a serverless cache/],
    ['a serverless alarm threshold', { alarms: { storagePercent: 80 } }, /^alarms\.storagePercent: 80 is a threshold of serverless alarms only; remove it/],
  ])('refuses the serverless setting %s on a replication group', (_name, extra, message) => {
    expect(problemsOf({ apps: ['a'], ...extra })).toEqual([expect.stringMatching(message)]);
  });

  it('lists every problem of a serverless config at once', () => {
    expect(problemsOf({ ...SERVERLESS, port: 7000, replicas: 3, maxEcpuPerSecond: 1 })).toHaveLength(3);
  });
});
