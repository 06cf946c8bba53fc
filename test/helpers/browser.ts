/**
 * Runs part of the core as a browser would: bundled by esbuild for the browser platform (a Node
 * built-in import fails the build) and evaluated in a bare context holding only what browsers have
 * (Web Crypto, TextEncoder/TextDecoder) — no require, process or Buffer.
 */
import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import { createContext, runInContext, type Context } from 'node:vm';
import { build } from 'esbuild';

/** Bundles `entryPoint` (an absolute path) as an IIFE exposing `globalName`, loaded into a fresh browser-like context with `globals`. */
export async function loadInBrowserContext(entryPoint: string, globalName: string, globals: Record<string, unknown>): Promise<Context> {
  const result = await build({ entryPoints: [entryPoint], bundle: true, platform: 'browser', format: 'iife', globalName, write: false, logLevel: 'silent' });
  const code = result.outputFiles[0]!.text;
  assert.doesNotMatch(code, /require\(["']node:/);
  const context = createContext({ crypto: webcrypto, TextEncoder, TextDecoder, ...globals });
  runInContext(code, context);
  return context;
}
