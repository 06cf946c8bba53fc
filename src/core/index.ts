/**
 * sealtrail core: the formats and the cryptography of sealed ledgers, with no I/O, usable in Node and in
 * browsers. docs/FORMAT.md describes every byte.
 */
export * from './bytes.js';
export * from './checkpoint.js';
export * from './commitments.js';
export * from './crypto.js';
export * from './errors.js';
export * from './event.js';
export * from './leaf.js';
export * from './note.js';
export * from './time.js';
export * from './tree.js';
export * from './verify.js';
export { isIPv4, isIPv6 } from './ip.js';
export * from './query.js';
export * from './ipnet.js';
