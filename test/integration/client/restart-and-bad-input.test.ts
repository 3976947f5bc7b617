import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KccRedis } from '../../../client/src/index.js';
import { Bus } from '../../../client/src/bus.js';
import { type Envelope, MAX_MESSAGE_BYTES } from '../../../client/src/envelope.js';
import { EventLog } from '../../../client/src/event-log.js';
import type { LocalRedis } from '../../../local/local-redis.js';
import { nextEvent, until } from '../../support/events.js';
import { connectAs, kccOptions, startTestRedis, useTestRedis } from '../../support/redis.js';

const USER = 'my-app-prod';

function connect(server: LocalRedis): Promise<KccRedis> {
  return KccRedis.connect(kccOptions(server, USER, { reconnectMaxDelayMs: 200 }));
}

describe('server restart (kill -9, restart on the same port)', () => {
  const server = useTestRedis({ appEnvs: [{ app: 'my-app', env: 'prod' }] });

  it('reconnects, resubscribes, and the event-log tail resumes with no entry skipped or applied twice', async () => {
    const writer = await connect(server);
    const reader = await connect(server);
    const log = new EventLog<{ n: number }>(writer, { maxAgeMs: 3_600_000 });
    const applied: number[] = [];
    const tail = await new EventLog<{ n: number }>(reader, { maxAgeMs: 3_600_000 }).tail((event) => {
      applied.push(event.data.n);
    });
    const bus = new Bus<{ n: number }>(reader);
    const heard: number[] = [];
    await bus.subscribe((message) => heard.push(message.data.n));

    for (let n = 0; n < 50; n++) await log.append('counted', { n });
    await until(() => applied.length === 50, 'the first 50 entries');
    const readerBack = nextEvent(reader, 'ready');
    const writerBack = nextEvent(writer, 'ready');
    await server.kill();
    // Appends issued while the server is down wait in the offline queue and go out on reconnect.
    const duringOutage = Promise.all(Array.from({ length: 25 }, (_, i) => log.append('counted', { n: 50 + i })));
    await server.restart();
    await Promise.all([readerBack, writerBack, duringOutage]);
    for (let n = 75; n < 100; n++) await log.append('counted', { n });
    await until(() => applied.length >= 100, 'all 100 entries');
    expect(applied).toEqual(Array.from({ length: 100 }, (_, n) => n));

    // Resubscribed: PUBLISH reports receivers; once the server counts one, the message is delivered.
    const writerBus = new Bus<{ n: number }>(writer);
    let receivers = 0;
    for (let i = 0; i < 500 && receivers === 0; i++) {
      receivers = await writerBus.publish('counted', { n: 7 });
      if (receivers === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(receivers).toBe(1);
    await until(() => heard.includes(7), 'the bus message after the restart');
    expect(heard).toEqual([7]);

    await tail.stop();
    await Promise.all([writer.close(), reader.close()]);
  });
});

describe('bad input is dropped and counted, never thrown into the app', () => {
  let server: LocalRedis;
  let redis: KccRedis;
  let raw: Redis;
  beforeAll(async () => {
    server = await startTestRedis({ appEnvs: [{ app: 'my-app', env: 'prod' }] });
    redis = await connect(server);
    raw = await connectAs(server, USER);
  });
  afterAll(async () => {
    await redis?.close();
    await raw?.quit();
    await server?.stop();
  });

  it('drops malformed and oversized pub/sub payloads, and still delivers the next valid one', async () => {
    const received: Envelope<{ sid: string }>[] = [];
    const drops: string[] = [];
    const isSid = (d: unknown): d is { sid: string } => typeof (d as { sid?: unknown })?.sid === 'string';
    const bus = new Bus<{ sid: string }>(redis, { validate: isSid, onDrop: (reason) => drops.push(reason) });
    await bus.subscribe((message) => received.push(message));
    const valid = { v: 1, id: 'x1', type: 'hint', sender: 'other-instance', at: Date.now() };
    await raw.publish(bus.channel, 'not json at all');
    await raw.publish(bus.channel, JSON.stringify({ ...valid, data: { sid: 'x'.repeat(MAX_MESSAGE_BYTES) } }));
    await raw.publish(bus.channel, JSON.stringify({ ...valid, data: { sid: 42 } }));
    await raw.publish(bus.channel, JSON.stringify({ ...valid, id: 'x2', data: { sid: 'ok' } }));
    await until(() => received.length === 1, 'the valid message');
    expect(received[0]!.data).toEqual({ sid: 'ok' });
    expect(bus.dropped).toEqual({ malformed: 1, oversized: 1, invalid: 1 });
    expect(drops).toEqual(['malformed', 'oversized', 'invalid']);
  });

  it('drops malformed stream entries and keeps tailing', async () => {
    const log = new EventLog<{ n: number }>(redis, { name: 'bad-input-log', maxAgeMs: 3_600_000 });
    const applied: number[] = [];
    const tail = await log.tail((event) => {
      applied.push(event.data.n);
    });
    await raw.xadd(log.key, '*', 'unexpected', 'field');
    await raw.xadd(log.key, '*', 'e', '{broken');
    await raw.xadd(log.key, '*', 'e', 'x'.repeat(MAX_MESSAGE_BYTES + 1));
    await log.append('counted', { n: 1 });
    await until(() => applied.length === 1, 'the valid entry');
    expect(applied).toEqual([1]);
    expect(log.dropped).toEqual({ malformed: 2, oversized: 1, invalid: 0 });
    await tail.stop();
  });

  it('refuses a tail whose blocking read would outlast what the reader connection waits for a reply, naming blockMs and its range', async () => {
    // The reader is taken as dead after socketTimeoutMs + 5 s without a byte: a longer BLOCK would close it every time.
    const log = new EventLog<{ n: number }>(redis, { name: 'block-bound', maxAgeMs: 60_000 });
    await expect(log.tail(() => {}, { blockMs: 5_001 })).rejects.toThrow(/^blockMs: 5001 must be a whole number of milliseconds from 1 to 5000$/);
    await expect(log.tail(() => {}, { blockMs: 0 })).rejects.toThrow(TypeError);
    const tail = await log.tail(() => {}, { blockMs: 5_000 });
    await tail.stop();
  });

  it('refuses to send an oversized payload with a clear error', async () => {
    await expect(new Bus(redis).publish('big', { x: 'x'.repeat(redis.config.maxMessageBytes) })).rejects.toMatchObject({ code: 'KCC_INPUT_INVALID' });
  });
});
