import { randomFillSync } from 'node:crypto';

/**
 * 128-bit digests of session ids for the revocation index, which keeps digests instead of the ids
 * (a million ids as strings weigh ~70 MB; their digests 16 MB).
 *
 * The function is MurmurHash3_x86_128 (Austin Appleby, public domain; SMHasher's reference) over the
 * id's UTF-16 code units, two per 32-bit word (the bytes of the UTF-16LE encoding, without encoding
 * it), with each of its four lanes seeded from its own random 32-bit key. With equal seeds it is the
 * reference function (the unit test checks SMHasher's verification value). Random keys, drawn per
 * process, keep digests unknown outside the process, which makes crowding one region of the table
 * hard to aim. MurmurHash3 is not a cryptographic hash: seed-independent collisions can be built
 * for it, so a chosen pair of colliding ids is not ruled out; why that buys an attacker nothing is
 * argued in docs/logout-sync.md ("The index").
 */
export class SidDigester {
  /** The last digest computed, in words 0..3. */
  readonly out = new Uint32Array(4);
  private readonly s1: number;
  private readonly s2: number;
  private readonly s3: number;
  private readonly s4: number;

  /** `seeds` only for tests (the reference function takes one seed for all lanes); random otherwise. */
  constructor(seeds?: readonly [number, number, number, number]) {
    const s = seeds ?? randomFillSync(new Uint32Array(4));
    this.s1 = s[0]! >>> 0;
    this.s2 = s[1]! >>> 0;
    this.s3 = s[2]! >>> 0;
    this.s4 = s[3]! >>> 0;
  }

  /** Digests `id` into {@link out}. */
  digest(id: string): void {
    let h1 = this.s1;
    let h2 = this.s2;
    let h3 = this.s3;
    let h4 = this.s4;
    const units = id.length;
    const blockEnd = units - (units & 7);
    let i = 0;
    for (; i < blockEnd; i += 8) {
      let k1 = id.charCodeAt(i) | (id.charCodeAt(i + 1) << 16);
      let k2 = id.charCodeAt(i + 2) | (id.charCodeAt(i + 3) << 16);
      let k3 = id.charCodeAt(i + 4) | (id.charCodeAt(i + 5) << 16);
      let k4 = id.charCodeAt(i + 6) | (id.charCodeAt(i + 7) << 16);

      k1 = Math.imul(k1, C1);
      k1 = (k1 << 15) | (k1 >>> 17);
      k1 = Math.imul(k1, C2);
      h1 ^= k1;
      h1 = (h1 << 19) | (h1 >>> 13);
      h1 = (h1 + h2) | 0;
      h1 = (Math.imul(h1, 5) + 0x561ccd1b) | 0;

      k2 = Math.imul(k2, C2);
      k2 = (k2 << 16) | (k2 >>> 16);
      k2 = Math.imul(k2, C3);
      h2 ^= k2;
      h2 = (h2 << 17) | (h2 >>> 15);
      h2 = (h2 + h3) | 0;
      h2 = (Math.imul(h2, 5) + 0x0bcaa747) | 0;

      k3 = Math.imul(k3, C3);
      k3 = (k3 << 17) | (k3 >>> 15);
      k3 = Math.imul(k3, C4);
      h3 ^= k3;
      h3 = (h3 << 15) | (h3 >>> 17);
      h3 = (h3 + h4) | 0;
      h3 = (Math.imul(h3, 5) + 0x96cd1c35) | 0;

      k4 = Math.imul(k4, C4);
      k4 = (k4 << 18) | (k4 >>> 14);
      k4 = Math.imul(k4, C1);
      h4 ^= k4;
      h4 = (h4 << 13) | (h4 >>> 19);
      h4 = (h4 + h1) | 0;
      h4 = (Math.imul(h4, 5) + 0x32ac3b17) | 0;
    }

    // Tail: 1 to 7 code units (2 to 14 bytes), lanes mixed as the reference's byte switch does.
    const rest = units - blockEnd;
    if (rest > 6) {
      let k4 = Math.imul(id.charCodeAt(i + 6), C4);
      k4 = (k4 << 18) | (k4 >>> 14);
      h4 ^= Math.imul(k4, C1);
    }
    if (rest > 4) {
      let k3 = rest > 5 ? id.charCodeAt(i + 4) | (id.charCodeAt(i + 5) << 16) : id.charCodeAt(i + 4);
      k3 = Math.imul(k3, C3);
      k3 = (k3 << 17) | (k3 >>> 15);
      h3 ^= Math.imul(k3, C4);
    }
    if (rest > 2) {
      let k2 = rest > 3 ? id.charCodeAt(i + 2) | (id.charCodeAt(i + 3) << 16) : id.charCodeAt(i + 2);
      k2 = Math.imul(k2, C2);
      k2 = (k2 << 16) | (k2 >>> 16);
      h2 ^= Math.imul(k2, C3);
    }
    if (rest > 0) {
      let k1 = rest > 1 ? id.charCodeAt(i) | (id.charCodeAt(i + 1) << 16) : id.charCodeAt(i);
      k1 = Math.imul(k1, C1);
      k1 = (k1 << 15) | (k1 >>> 17);
      h1 ^= Math.imul(k1, C2);
    }

    const bytes = units * 2;
    h1 ^= bytes;
    h2 ^= bytes;
    h3 ^= bytes;
    h4 ^= bytes;
    h1 = (h1 + h2) | 0;
    h1 = (h1 + h3) | 0;
    h1 = (h1 + h4) | 0;
    h2 = (h2 + h1) | 0;
    h3 = (h3 + h1) | 0;
    h4 = (h4 + h1) | 0;
    h1 = fmix32(h1);
    h2 = fmix32(h2);
    h3 = fmix32(h3);
    h4 = fmix32(h4);
    h1 = (h1 + h2) | 0;
    h1 = (h1 + h3) | 0;
    h1 = (h1 + h4) | 0;
    h2 = (h2 + h1) | 0;
    h3 = (h3 + h1) | 0;
    h4 = (h4 + h1) | 0;
    const out = this.out;
    out[0] = h1;
    out[1] = h2;
    out[2] = h3;
    out[3] = h4;
  }
}

const C1 = 0x239b961b;
const C2 = 0xab0e9789;
const C3 = 0x38b34ae5;
const C4 = 0xa1e38b93;

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}
