/**
 * Background work that one process at a time must do (detection of a ledger, delivery of a sink), when
 * several server processes share one PostgreSQL store. A worker claims a named lease in the store and
 * renews it while it works; if its process dies the lease runs out and another process's worker claims
 * it and takes over from the durable cursor the work keeps. A worker that cannot renew in time (it
 * stalled, or lost the database) stops working before its lease can have passed to someone else.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { nowMicros } from './sequencer.js';
import type { Store } from './store.js';

/** This process's name as a lease holder: host, pid and a random part (pids are reused). */
export const PROCESS_HOLDER = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;

export interface LeaseWorkerOptions {
  store: Store;
  /** Lease name, e.g. `detection:payroll` or `sink:siem`. */
  name: string;
  /** Holder name; default PROCESS_HOLDER. */
  holder?: string;
  /** How long a lease lasts without renewal; default 15 s. Renewed every third of it. */
  leaseMs?: number;
  /** Told of errors the work threw (it is restarted after a pause) and of lost leases. */
  log?: (message: string, error?: unknown) => void;
}

export interface LeaseWorker {
  /** True while this process holds the lease and its work runs. */
  readonly holding: boolean;
  /** Stops the work, waits for it to return, and hands the lease back. */
  stop(): Promise<void>;
}

/**
 * Runs `work` whenever this process holds the lease. `work` must return promptly once its signal
 * aborts (lease lost, or stop()), and must keep its own progress durable: the next holder starts from
 * what the store says, not from anything in this process.
 */
export function runUnderLease(options: LeaseWorkerOptions, work: (signal: AbortSignal) => Promise<void>): LeaseWorker {
  const { store, name } = options;
  const holder = options.holder ?? PROCESS_HOLDER;
  const leaseMs = options.leaseMs ?? 15_000;
  const log = options.log ?? (() => {});
  let stopped = false;
  let running: { controller: AbortController; done: Promise<void> } | undefined;
  let timer: NodeJS.Timeout | undefined;
  let tick: Promise<void> = Promise.resolve();

  const startWork = () => {
    const controller = new AbortController();
    const done = work(controller.signal).then(
      () => {},
      (error: unknown) => {
        if (!controller.signal.aborted) log(`background work ${name} failed; it restarts shortly`, error);
      },
    ).finally(() => {
      if (running?.controller === controller) running = undefined;
    });
    running = { controller, done };
  };

  const renew = async () => {
    const now = nowMicros();
    let held: boolean;
    try {
      held = await store.claimLease(name, holder, now, now + leaseMs * 1000);
    } catch (error) {
      held = false;
      log(`lease ${name} could not be renewed`, error);
    }
    // A claim that took longer than a third of the lease may have come back after the lease ran out.
    if (held && nowMicros() - now > (leaseMs * 1000) / 3) held = false;
    if (stopped) return;
    if (held && !running) startWork();
    if (!held && running) {
      log(`lease ${name} lost; stopping its work`);
      running.controller.abort();
      await running.done;
    }
  };

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      tick = renew().finally(schedule);
    }, leaseMs / 3);
    timer.unref?.();
  };
  tick = renew().finally(schedule);

  return {
    get holding() {
      return running !== undefined;
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await tick;
      if (running) {
        running.controller.abort();
        await running.done;
      }
      const now = nowMicros();
      await store.claimLease(name, holder, now, now - 1).catch(() => {});
    },
  };
}
