/**
 * What the connector drop-in seals carries its own time: a value its expiry, a message the time it was
 * sent and its id, so that a writer of Redis without the key-encryption key cannot put back an expired
 * token set, keep one past its expiry, or send an old message again as new.
 */
import { describe, expect, it } from 'vitest';
import { ConnectorSeal, MESSAGE_AHEAD_SLACK_MS, MESSAGE_MAX_AGE_MS, VALUE_EXPIRY_SLACK_MS } from '../../../client/src/keycloak-connector/connector-seal.js';
import { HeardMessages } from '../../../client/src/keycloak-connector/heard-messages.js';
import { KeyEncryptionKey } from '../../../client/src/keyring/key-encryption.js';
import { KeyEncryptionKeys } from '../../../client/src/keyring/key-encryption-keys.js';

const KEK = 'connector-seal-unit-key-encryption-key-0123';
const silent = { info: () => undefined, warn: () => undefined };
const seal = async () => new ConnectorSeal(await KeyEncryptionKeys.load(async () => ({ kek: KEK }), silent, false));
const NOW = 1_800_000_000_000;

describe('ConnectorSeal: the time sealed with each value and message', () => {
  it('a value opens until its sealed expiry (and the slack for two estimates of the server time), then is refused as expired', async () => {
    const s = await seal();
    const [copy] = s.valueCopies('value\nk', 'ctx', 'token set', NOW + 60_000, 1);
    expect(await s.openValue('ctx', copy!.sealed, NOW)).toEqual({ text: 'token set' });
    expect(await s.openValue('ctx', copy!.sealed, NOW + 60_000 + VALUE_EXPIRY_SLACK_MS)).toEqual({ text: 'token set' });
    expect(await s.openValue('ctx', copy!.sealed, NOW + 60_000 + VALUE_EXPIRY_SLACK_MS + 1)).toEqual({ refused: 'expired' });
  });

  it('a value without an expiry opens at any time', async () => {
    const s = await seal();
    const [copy] = s.valueCopies('value\nk', 'ctx', 'keys', null, 1);
    expect(await s.openValue('ctx', copy!.sealed, NOW + 10 * 365 * 86_400_000)).toEqual({ text: 'keys' });
  });

  it('a message opens with its id and time until it is more than MESSAGE_MAX_AGE_MS old', async () => {
    const s = await seal();
    const [copy] = s.messageCopies('channel\nc', 'ctx', '{"n":1}', 'id-1', NOW);
    expect(await s.openMessage('ctx', copy!.sealed, NOW + MESSAGE_MAX_AGE_MS)).toEqual({ text: '{"n":1}', id: 'id-1', sentAt: NOW });
    expect(await s.openMessage('ctx', copy!.sealed, NOW + MESSAGE_MAX_AGE_MS + 1)).toEqual({ refused: 'expired' });
  });

  it('a message dated more than MESSAGE_AHEAD_SLACK_MS after the server time is refused (it would be kept and replayable that much longer)', async () => {
    const s = await seal();
    const [copy] = s.messageCopies('channel\nc', 'ctx', '{"n":1}', 'id-1', NOW + MESSAGE_AHEAD_SLACK_MS);
    expect(await s.openMessage('ctx', copy!.sealed, NOW)).toMatchObject({ id: 'id-1' });
    const [ahead] = s.messageCopies('channel\nc', 'ctx', '{"n":1}', 'id-2', NOW + MESSAGE_AHEAD_SLACK_MS + 1);
    expect(await s.openMessage('ctx', ahead!.sealed, NOW)).toEqual({ refused: 'ahead' });
  });

  it('a message does not open as a value nor a value as a message, and neither for another context or sealed without the time', async () => {
    const s = await seal();
    const [message] = s.messageCopies('n', 'ctx', 'text', 'id', NOW);
    const [value] = s.valueCopies('n', 'ctx', 'text', null, 1);
    expect(await s.openValue('ctx', message!.sealed, NOW)).toEqual({ refused: 'unopened' });
    expect(await s.openMessage('ctx', value!.sealed, NOW)).toEqual({ refused: 'unopened' });
    expect(await s.openValue('other', value!.sealed, NOW)).toEqual({ refused: 'unopened' });
    // Sealed under the key, but the text alone: no expiry or time to judge it by.
    const bare = new KeyEncryptionKey(KEK).seal('ctx', 'text');
    expect(await s.openValue('ctx', bare, NOW)).toEqual({ refused: 'unopened' });
    expect(await s.openMessage('ctx', bare, NOW)).toEqual({ refused: 'unopened' });
    const future = new KeyEncryptionKey(KEK).seal('ctx', JSON.stringify({ v: 2, x: null, d: 'text' }));
    expect(await s.openValue('ctx', future, NOW)).toEqual({ refused: 'unopened' });
  });
});

describe('HeardMessages', () => {
  it('takes an id once while it can still be delivered, however many others come between', () => {
    const heard = new HeardMessages();
    expect(heard.hear('first', NOW, NOW)).toBe(true);
    for (let i = 0; i < 5_000; i++) heard.hear(`other-${i}`, NOW + i, NOW + i);
    expect(heard.hear('first', NOW, NOW + 5_000)).toBe(false);
    expect(heard.hear('first', NOW, NOW + MESSAGE_MAX_AGE_MS)).toBe(false);
  });

  it('lets go of ids once their messages are too old to be delivered, with 5 s to spare', () => {
    const heard = new HeardMessages();
    const kept = () => (heard as unknown as { kept: Map<string, number> }).kept.size;
    for (let i = 0; i < 100; i++) heard.hear(`id-${i}`, NOW, NOW);
    heard.hear('later', NOW + MESSAGE_MAX_AGE_MS + 5_000, NOW + MESSAGE_MAX_AGE_MS + 5_000);
    expect(kept()).toBe(101);
    heard.hear('latest', NOW + MESSAGE_MAX_AGE_MS + 5_001, NOW + MESSAGE_MAX_AGE_MS + 5_001);
    expect(kept()).toBe(2);
  });

  it('an estimate of the server time that steps back (measured again) does not let an id go early: a message still young enough is heard once', () => {
    const heard = new HeardMessages();
    expect(heard.hear('x', NOW, NOW)).toBe(true);
    // Another message judged at a later estimate, 3 s past the first's age limit ...
    heard.hear('y', NOW + MESSAGE_MAX_AGE_MS + 3_000, NOW + MESSAGE_MAX_AGE_MS + 3_000);
    // ... then the estimate steps back 4 s: the first message is young enough again, and still known.
    expect(heard.hear('x', NOW, NOW + MESSAGE_MAX_AGE_MS - 1_000)).toBe(false);
  });
});
