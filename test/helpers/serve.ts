/** Starts the real `sealtrail serve` (src/cli/main.ts under tsx) and waits for the URL it prints. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface ServeProcess {
  url: string;
  child: ChildProcess;
  /** Settles when the process has exited. */
  exited: Promise<void>;
}

/**
 * `args` follow `serve`; `env` is added to this process's environment. `onSpawn` sees the child before
 * it listens (to kill it when the test process exits). Rejects with the server's output if it exits or
 * has not started within 60 s.
 */
export function spawnServe(args: string[], env: NodeJS.ProcessEnv = {}, onSpawn?: (child: ChildProcess) => void): Promise<ServeProcess> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  delete childEnv.NODE_TEST_CONTEXT;
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', ...args], { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  onSpawn?.(child);
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  let output = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start\n${output}`)), 60_000);
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      const match = /sealtrail listening on (http:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ url: match[1]!, child, exited });
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`serve exited\n${output}`));
    });
  });
}
