// Builds the console into dist/console, which the server serves at `/` (src/server/console-static.ts).
// Everything is bundled: the pages load nothing from another host.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root: here,
  base: '/',
  publicDir: false,
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/console', import.meta.url)),
    emptyOutDir: true,
    assetsDir: 'assets',
    sourcemap: true,
    // Inlined assets would need data: in script-src; keep everything a file of its own.
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 1024,
  },
  server: { proxy: { '/v1': 'http://127.0.0.1:8080' } },
});
