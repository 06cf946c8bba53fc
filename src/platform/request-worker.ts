/**
 * A worker thread spoken to by numbered requests, each answered by one response carrying its id (or an
 * `error`). Started on the first request; referenced only while a request is out, so that an idle one
 * never keeps a process (a CLI run, a test) alive. If the thread dies, every request it held fails with
 * the error `failure` makes, and the next request starts a new thread.
 */
import type { Worker } from 'node:worker_threads';
import { fromWireError, type WireError } from './start-worker.js';

interface Call<Response> {
  resolve(response: Response): void;
  reject(error: Error): void;
}

/** Distributes a request union over its members, so that each keeps its own fields without `id`. */
export type Unsent<T> = T extends unknown ? Omit<T, 'id'> : never;

export interface RequestWorkerOptions<Message> {
  start(): Worker;
  /** The error each request still out gets when the thread dies (`why`: how it died). */
  failure(why: Error): Error;
  /** Every message from the thread, answers included, before the answer settles its request. */
  onMessage?(message: Message): void;
  /** Told once the thread is gone, after the requests it held failed. */
  onRetired?(): void;
}

export class RequestWorker<Request extends { id: number }, Message extends object> {
  private worker: Worker | undefined;
  private readonly calls = new Map<number, Call<Message>>();
  private nextId = 1;
  private closing = false;

  constructor(private readonly options: RequestWorkerOptions<Message>) {}

  get running(): boolean {
    return this.worker !== undefined;
  }

  /** Sends a request, starting the thread if none runs; resolves with its answer, rejects on an `error` one. */
  request(message: Unsent<Request>): Promise<Message> {
    return this.send(this.worker ?? this.start(), message);
  }

  /** Sends `message` (the thread's own way to stop) if a thread runs, and waits for it to exit. */
  async close(message: Unsent<Request>): Promise<void> {
    this.closing = true;
    const worker = this.worker;
    if (!worker) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.ref();
    try {
      await this.send(worker, message);
    } catch {
      // It died first: nothing left to close.
    }
    await exited;
  }

  private send(worker: Worker, message: Unsent<Request>): Promise<Message> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.calls.set(id, { resolve, reject });
      if (this.calls.size === 1) worker.ref();
      worker.postMessage({ ...message, id });
    });
  }

  private start(): Worker {
    const worker = this.options.start();
    worker.unref();
    this.worker = worker;
    worker.on('message', (message: Message) => {
      this.options.onMessage?.(message);
      const id = (message as { id?: unknown }).id;
      if (typeof id !== 'number') return;
      const call = this.calls.get(id);
      if (!call) return;
      this.calls.delete(id);
      // Closing holds it until it has exited.
      if (this.calls.size === 0 && !this.closing) worker.unref();
      const error = (message as { error?: WireError }).error;
      if (error) call.reject(fromWireError(error));
      else call.resolve(message);
    });
    const retire = (why: Error) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      const failure = this.options.failure(why);
      for (const call of this.calls.values()) call.reject(failure);
      this.calls.clear();
      this.options.onRetired?.();
    };
    worker.on('error', retire);
    worker.on('exit', (code) => retire(new Error(`exit code ${code}`)));
    return worker;
  }
}
