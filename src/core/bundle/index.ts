/** Evidence bundles: the archive format (format.ts), its writer (write.ts) and its offline verifier (verify.ts). */
export * from './format.js';
export * from './write.js';
export * from './verify.js';
export * from './zip.js';
