import { randomInt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SidDigester } from '../../../client/src/revocation/sid-digest.js';

/** MurmurHash3_x86_128 over bytes, written from SMHasher's MurmurHash3.cpp, as the reference. */
function murmur3x86x128(bytes: Uint8Array, seed: number): [number, number, number, number] {
  const [c1, c2, c3, c4] = [0x239b961b, 0xab0e9789, 0x38b34ae5, 0xa1e38b93];
  const rotl = (x: number, r: number) => (x << r) | (x >>> (32 - r));
  const fmix = (h: number) => {
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    return h ^ (h >>> 16);
  };
  const word = (at: number) => bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24);
  let [h1, h2, h3, h4] = [seed, seed, seed, seed];
  const blocks = Math.floor(bytes.length / 16);
  for (let b = 0; b < blocks; b++) {
    let [k1, k2, k3, k4] = [word(b * 16), word(b * 16 + 4), word(b * 16 + 8), word(b * 16 + 12)];
    k1 = Math.imul(rotl(Math.imul(k1, c1), 15), c2); h1 ^= k1; h1 = rotl(h1, 19); h1 = (h1 + h2) | 0; h1 = (Math.imul(h1, 5) + 0x561ccd1b) | 0;
    k2 = Math.imul(rotl(Math.imul(k2, c2), 16), c3); h2 ^= k2; h2 = rotl(h2, 17); h2 = (h2 + h3) | 0; h2 = (Math.imul(h2, 5) + 0x0bcaa747) | 0;
    k3 = Math.imul(rotl(Math.imul(k3, c3), 17), c4); h3 ^= k3; h3 = rotl(h3, 15); h3 = (h3 + h4) | 0; h3 = (Math.imul(h3, 5) + 0x96cd1c35) | 0;
    k4 = Math.imul(rotl(Math.imul(k4, c4), 18), c1); h4 ^= k4; h4 = rotl(h4, 13); h4 = (h4 + h1) | 0; h4 = (Math.imul(h4, 5) + 0x32ac3b17) | 0;
  }
  const tail = bytes.subarray(blocks * 16);
  const k = [0, 0, 0, 0];
  for (let i = tail.length - 1; i >= 0; i--) k[i >> 2]! ^= tail[i]! << (8 * (i & 3));
  if (tail.length > 12) h4 ^= Math.imul(rotl(Math.imul(k[3]!, c4), 18), c1);
  if (tail.length > 8) h3 ^= Math.imul(rotl(Math.imul(k[2]!, c3), 17), c4);
  if (tail.length > 4) h2 ^= Math.imul(rotl(Math.imul(k[1]!, c2), 16), c3);
  if (tail.length > 0) h1 ^= Math.imul(rotl(Math.imul(k[0]!, c1), 15), c2);
  const len = bytes.length;
  h1 ^= len; h2 ^= len; h3 ^= len; h4 ^= len;
  h1 = (h1 + h2 + h3 + h4) | 0; h2 = (h2 + h1) | 0; h3 = (h3 + h1) | 0; h4 = (h4 + h1) | 0;
  h1 = fmix(h1); h2 = fmix(h2); h3 = fmix(h3); h4 = fmix(h4);
  h1 = (h1 + h2 + h3 + h4) | 0; h2 = (h2 + h1) | 0; h3 = (h3 + h1) | 0; h4 = (h4 + h1) | 0;
  return [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0];
}

const digestOf = (digester: SidDigester, id: string) => {
  digester.digest(id);
  return [...digester.out];
};

describe('session-id digests (MurmurHash3_x86_128 over UTF-16 code units, keyed lanes)', () => {
  it('the byte reference written for this test passes SMHasher\'s verification value for MurmurHash3_x86_128 (0xB3ECE62A)', () => {
    const key = new Uint8Array(256);
    const hashes = new Uint8Array(16 * 256);
    for (let i = 0; i < 256; i++) {
      key[i] = i;
      const h = murmur3x86x128(key.subarray(0, i), 256 - i);
      new DataView(hashes.buffer).setUint32(i * 16, h[0], true);
      new DataView(hashes.buffer).setUint32(i * 16 + 4, h[1], true);
      new DataView(hashes.buffer).setUint32(i * 16 + 8, h[2], true);
      new DataView(hashes.buffer).setUint32(i * 16 + 12, h[3], true);
    }
    expect(murmur3x86x128(hashes, 0)[0]).toBe(0xb3ece62a);
  });

  it('equals the reference over the UTF-16LE bytes of the id, for every tail length and non-ASCII ids', () => {
    const seed = 0x9747b28c;
    const digester = new SidDigester([seed, seed, seed, seed]);
    const ids = ['', 'a', 'f81d4fae-7dec-11d0-a765-00a0c91e6bf6', 'ключ-сессии', '🔑 session', 'x'.repeat(256)];
    for (let length = 0; length <= 40; length++) ids.push(Array.from({ length }, () => String.fromCharCode(randomInt(1, 0xffff))).join(''));
    for (const id of ids) expect(digestOf(digester, id), JSON.stringify(id)).toEqual(murmur3x86x128(new Uint8Array(Buffer.from(id, 'utf16le')), seed));
  });

  it('draws random lane keys per digester: the same id digests differently in two processes', () => {
    const id = 'f81d4fae-7dec-11d0-a765-00a0c91e6bf6';
    expect(digestOf(new SidDigester(), id)).not.toEqual(digestOf(new SidDigester(), id));
    const fixed = new SidDigester([1, 2, 3, 4]);
    expect(digestOf(fixed, id)).toEqual(digestOf(fixed, id));
  });
});
