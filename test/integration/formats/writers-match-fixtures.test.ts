/**
 * What the current writers store and send has the structure (key names and types, field names,
 * value types, versions) of the committed fixtures. A writer that changes a format fails here: the
 * change needs a new version, with the old one still read (docs/formats.md). Ids, times and key
 * material differ from run to run and are not compared.
 *
 * `KCC_WRITE_FORMAT_FIXTURES=1` writes a fixture file that does not exist yet (a new format version's)
 * from this run's writers; an existing one is never written over.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { useTestRedis } from '../../support/redis.js';
import {
  FIXTURE_APP_ENV,
  formatChangedMessage,
  readFixture,
  structureOf,
  structureOfKeys,
  writeFixtureIfAsked,
} from './format-fixtures.js';
import { type ConnectorSealFixture, type HeartbeatFixture, type KeyRingFixture, type RevocationsFixture, writeConnectorSeal, writeHeartbeat, writeKeyRing, writeRevocations } from './format-writers.js';
import { KeyEncryptionKey } from '../../../client/src/keyring/key-encryption.js';

const server = useTestRedis({ appEnvs: [FIXTURE_APP_ENV], persistence: 'none' });

afterEach(async () => {
  await (await server.admin()).flushall();
});

/** A fixture's structure without what only says which run wrote it (its `writtenBy` names the package version). */
function comparable(fixture: object, drop: readonly string[] = []): unknown {
  const copy: Record<string, unknown> = { ...fixture };
  for (const name of ['writtenBy', ...drop]) delete copy[name];
  return structureOf(copy);
}

describe('the current writers write what the fixtures hold (structure and version)', () => {
  it('key ring: the stored ring (JWS over the ring document, JWE private keys) and its event log', async () => {
    const file = 'keyring-v1.json';
    const written = await writeKeyRing(server);
    writeFixtureIfAsked(file, written);
    const fixture = readFixture<KeyRingFixture>(file);
    expect(structureOfKeys(written.redis), formatChangedMessage('keyring', file)).toEqual(structureOfKeys(fixture.redis));
    expect(comparable(written, ['redis']), formatChangedMessage('keyring', file)).toEqual(comparable(fixture, ['redis']));
  });

  it('revocations: compacted state keys, log entries, pub/sub messages, stored Keycloak push, declarations, replay record', async () => {
    const file = 'revocations-v1.json';
    const written = await writeRevocations(server);
    writeFixtureIfAsked(file, written);
    const fixture = readFixture<RevocationsFixture>(file);
    expect(structureOfKeys(written.redis), formatChangedMessage('revocations', file)).toEqual(structureOfKeys(fixture.redis));
    // Message by message, in the order written: each kind's message keeps its own structure.
    expect(written.messages.map((m) => [m.carries, structureOf(m.message)]), formatChangedMessage('revocation messages', file)).toEqual(
      fixture.messages.map((m) => [m.carries, structureOf(m.message)]),
    );
    expect(comparable(written, ['redis', 'messages']), formatChangedMessage('revocations', file)).toEqual(comparable(fixture, ['redis', 'messages']));
  });

  it('heartbeat: the instance entry and the index of instances', async () => {
    const file = 'heartbeat-v1.json';
    const written = await writeHeartbeat(server);
    writeFixtureIfAsked(file, written);
    const fixture = readFixture<HeartbeatFixture>(file);
    expect(structureOfKeys(written.redis), formatChangedMessage('heartbeat', file)).toEqual(structureOfKeys(fixture.redis));
  });

  it('connector seal: a sealed value and a sealed message (prefix, and the payload inside), the message\'s envelope', async () => {
    const file = 'connector-seal-v1.json';
    const written = await writeConnectorSeal();
    writeFixtureIfAsked(file, written);
    const fixture = readFixture<ConnectorSealFixture>(file);
    expect(comparable(written), formatChangedMessage('connector seal', file)).toEqual(comparable(fixture));
    // Inside the seal: the payload's fields and version, opened with the fixture's (test) key.
    const inside = (f: ConnectorSealFixture) => {
      const kek = new KeyEncryptionKey(f.kek);
      return [structureOf(JSON.parse(kek.unseal(f.value.context, f.value.sealed))), structureOf(JSON.parse(kek.unseal(f.message.context, f.message.sealed)))];
    };
    expect(inside(written), formatChangedMessage('connector seal payload', file)).toEqual(inside(fixture));
  });
});
