/**
 * IP addresses as 16-byte values, for search. Every address is mapped into the IPv6 space: an IPv4
 * address a.b.c.d and the IPv4-mapped IPv6 address ::ffff:a.b.c.d (RFC 4291 §2.5.5.2) are the same
 * 16 bytes, so a store that keeps `ipHex(origin.ip)` can answer both spellings, and CIDR blocks of
 * either family become inclusive [low, high] byte ranges compared as blobs (or as lowercase hex text,
 * which sorts the same way).
 */
import { isIPv4, isIPv6 } from './ip.js';

/** Length of the hex form of an address: 16 bytes, 32 lowercase hex digits. */
export const IP_HEX_LENGTH = 32;

/** A CIDR block as an inclusive byte range; `prefix` counts bits in the 128-bit space. */
export interface IpRange {
  /** First address of the block, 32 lowercase hex digits. */
  low: string;
  /** Last address of the block, 32 lowercase hex digits. */
  high: string;
  /** Prefix length in the 128-bit space (an IPv4 /n is /96+n). */
  prefix: number;
}

const V4_MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

/** 16 bytes of an IPv4 or IPv6 address (IPv4 mapped to ::ffff:a.b.c.d), or undefined if it is neither. */
export function ipBytes(text: string): Uint8Array | undefined {
  if (isIPv4(text)) return Uint8Array.from([...V4_MAPPED_PREFIX, ...text.split('.').map(Number)]);
  if (!isIPv6(text)) return undefined;
  const groupsOf = (half: string): number[] => {
    if (half === '') return [];
    const out: number[] = [];
    for (const part of half.split(':')) {
      if (part.includes('.')) {
        const [a, b, c, d] = part.split('.').map(Number) as [number, number, number, number];
        out.push((a << 8) | b, (c << 8) | d);
      } else {
        out.push(parseInt(part, 16));
      }
    }
    return out;
  };
  const halves = text.split('::');
  const head = groupsOf(halves[0]!);
  const tail = halves.length === 2 ? groupsOf(halves[1]!) : [];
  const groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return bytes;
}

/** The 32-hex-digit key of an address (what a store should index), or undefined if it is not one. */
export function ipHex(text: string): string | undefined {
  const bytes = ipBytes(text);
  return bytes && hex(bytes);
}

/**
 * Parses an address or a CIDR block (`10.0.0.0/8`, `2001:db8::/32`, `::ffff:10.0.0.0/104`). An address
 * alone is a /32 (IPv4) or /128 (IPv6). Host bits set below the prefix are ignored (`10.1.2.3/8` is
 * `10.0.0.0/8`). An IPv4 prefix counts from the start of the IPv4 address, so `0.0.0.0/0` is all of
 * IPv4 and `::/0` is everything. Returns undefined if the text is neither.
 */
export function parseCidr(text: string): IpRange | undefined {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const bytes = ipBytes(address);
  if (!bytes) return undefined;
  const v4 = isIPv4(address);
  const max = v4 ? 32 : 128;
  let bits = max;
  if (slash >= 0) {
    const digits = text.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(digits) || Number(digits) > max) return undefined;
    bits = Number(digits);
  }
  const prefix = v4 ? 96 + bits : bits;
  const low = new Uint8Array(16);
  const high = new Uint8Array(16);
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, prefix - 8 * i)); // bits of this byte inside the prefix
    const mask = (0xff << (8 - keep)) & 0xff;
    low[i] = bytes[i]! & mask;
    high[i] = low[i]! | (~mask & 0xff);
  }
  return { low: hex(low), high: hex(high), prefix };
}

/**
 * The canonical text of an inclusive hex range if it is exactly one CIDR block: an address alone for a
 * single address, IPv4 dotted form (`10.0.0.0/8`) for blocks inside ::ffff:0:0/96, RFC 5952 IPv6 text
 * otherwise. Undefined if the range is not a CIDR block (or not 32 lowercase hex digits each).
 */
export function formatCidr(low: string, high: string): string | undefined {
  const lo = unhex(low);
  const hi = unhex(high);
  if (!lo || !hi) return undefined;
  // The prefix is the run of equal leading bits; below it low must be all 0s and high all 1s.
  let prefix = 0;
  while (prefix < 128 && bit(lo, prefix) === bit(hi, prefix)) prefix++;
  for (let b = prefix; b < 128; b++) if (bit(lo, b) !== 0 || bit(hi, b) !== 1) return undefined;
  const mapped = prefix >= 96 && V4_MAPPED_PREFIX.every((v, i) => lo[i] === v);
  if (mapped) {
    const address = Array.from(lo.subarray(12)).join('.');
    return prefix === 128 ? address : `${address}/${prefix - 96}`;
  }
  const address = formatIPv6(lo);
  return prefix === 128 ? address : `${address}/${prefix}`;
}

/** RFC 5952 text of 16 bytes: lowercase, no leading zeros, the longest run (≥ 2) of zero groups as "::". */
export function formatIPv6(bytes: Uint8Array): string {
  const groups = Array.from({ length: 8 }, (_, i) => (bytes[2 * i]! << 8) | bytes[2 * i + 1]!);
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const text = (gs: number[]) => gs.map((g) => g.toString(16)).join(':');
  if (bestStart < 0) return text(groups);
  return `${text(groups.slice(0, bestStart))}::${text(groups.slice(bestStart + bestLength))}`;
}

function bit(bytes: Uint8Array, index: number): number {
  return (bytes[index >> 3]! >> (7 - (index & 7))) & 1;
}

function hex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}

function unhex(text: string): Uint8Array | undefined {
  if (!/^[0-9a-f]{32}$/.test(text)) return undefined;
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 16; i++) bytes[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}
