import { EventEmitter } from 'node:events';
import { inspect } from 'node:util';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { TlsSessions } from '../../../client/src/tls-sessions.js';

/** A stand-in for an ioredis client whose socket connects (ioredis' 'connect') and then receives session tickets. */
function fakeClient(reused = false) {
  const client = new EventEmitter() as EventEmitter & { stream?: EventEmitter & { isSessionReused(): boolean } };
  const connect = () => {
    client.stream = Object.assign(new EventEmitter(), { isSessionReused: () => reused });
    client.emit('connect');
    return client.stream;
  };
  return { client: client as unknown as Redis, connect };
}

describe('TlsSessions', () => {
  it('offers no session before a ticket, then a copy of the latest ticket; each copy is wiped once its handshake is done', () => {
    const sessions = new TlsSessions();
    const { options, watch } = sessions.forConnection({ servername: 'example' });
    const { client, connect } = fakeClient();
    watch(client);
    expect(options.session).toBeUndefined();
    connect().emit('session', Buffer.from('ticket-1'));
    connect().emit('session', Buffer.from('ticket-2'));
    const offered = options.session!;
    expect(offered.toString()).toBe('ticket-2');
    connect(); // its handshake done
    expect(offered.every((byte) => byte === 0)).toBe(true);
    expect(options.session!.toString()).toBe('ticket-2');
  });

  it('a session prints and serializes as a label', () => {
    const sessions = new TlsSessions();
    const { options, watch } = sessions.forConnection({});
    const { client, connect } = fakeClient();
    watch(client);
    connect().emit('session', Buffer.from('secret-ticket-bytes'));
    expect(inspect(options)).not.toContain('secret');
    expect(inspect(options, { getters: true })).not.toMatch(/secret|73 65 63/);
    expect(JSON.stringify(options)).toBe('{"session":"[TLS session]"}');
    expect(inspect(sessions, { showHidden: true })).not.toMatch(/secret|73 65 63/);
  });

  it('counts resumed handshakes only', () => {
    const sessions = new TlsSessions();
    const full = fakeClient(false);
    const resumed = fakeClient(true);
    sessions.forConnection({}).watch(full.client);
    sessions.forConnection({}).watch(resumed.client);
    full.connect();
    resumed.connect();
    resumed.connect();
    expect(sessions.resumed).toBe(2);
  });
});
