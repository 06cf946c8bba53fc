/** Evidence bundles: the archive format (format.ts), its writer (write.ts) and its offline verifier (verify.ts)
 * with the auditor's expectations (expect.ts). */
export * from './format.js';
export * from './write.js';
export * from './verify.js';
export * from './expect.js';
export * from './zip.js';
