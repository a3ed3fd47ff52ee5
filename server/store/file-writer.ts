/**
 * Durable file replacements and log appends on a thread of their own (./file-writer-thread.mjs). On
 * the sign-in path every attempt rewrites its address's file and its user's file and appends its
 * audit line; done with fs/promises, each replacement was eight round trips through the thread pool
 * (open, write, fsync, close, rename, and the directory's open, fsync, close), each a promise and a
 * callback on the event loop: about half of the event loop's time per wrong code (issue 21). Here
 * the event loop posts one message per batch of writes and gets one answer, and the thread makes the
 * same calls synchronously.
 *
 * The thread keeps the process alive only while a write is under way, so a command exits as
 * soon as its work is done. If the thread dies, the writes in flight fail (the callers see an
 * error, as for a failed write) and the next one starts a new thread.
 */
import { Worker } from 'node:worker_threads';
import { runtimeFile } from '../runtime-files';

interface Reply {
  id: number;
  error: { message: string; code?: string } | null;
}

interface Pending {
  resolve: () => void;
  reject: (error: Error) => void;
}

/** An error as node's fs would have thrown it, with its code (ENOENT, EEXIST…) for the callers' checks. */
function fsError(error: NonNullable<Reply['error']>): NodeJS.ErrnoException {
  const rebuilt: NodeJS.ErrnoException = new Error(error.message);
  if (error.code) rebuilt.code = error.code;
  return rebuilt;
}

type Request = { id: number; path: string; text: string } | { id: number; fd: number; text: string };

export class FileWriterThread {
  #worker: Worker | null = null;
  #nextId = 0;
  readonly #pending = new Map<number, Pending>();
  /**
   * Requests not yet sent. Each message to the thread costs the event loop a post and a wake-up for
   * its answer, so the requests go in batches (a group commit): those made in one turn of the event
   * loop (an attempt's account, address and audit writes are issued together), and those made while
   * a batch is on the thread, sent when it answers (the thread would not start them sooner).
   */
  #queued: Request[] = [];
  #batchOnThread = false;
  #postScheduled = false;
  #batchesSent = 0;

  /** How many messages (batches of requests) went to the thread: what the event loop paid for. */
  get batchesSent(): number {
    return this.#batchesSent;
  }

  /** Replaces `path` with `text` durably: resolves once the new file and its name survive a power cut. */
  replace(path: string, text: string): Promise<void> {
    return this.#send({ id: this.#nextId++, path, text });
  }

  /**
   * Appends `text` to the open file `fd` (opened for appending) and fdatasyncs it. The caller keeps
   * `fd` open until this settles.
   */
  append(fd: number, text: string): Promise<void> {
    return this.#send({ id: this.#nextId++, fd, text });
  }

  #send(request: Request): Promise<void> {
    const worker = this.#worker ?? this.#start();
    return new Promise<void>((resolve, reject) => {
      this.#pending.set(request.id, { resolve, reject });
      if (this.#pending.size === 1) worker.ref();
      this.#queued.push(request);
      if (this.#batchOnThread || this.#postScheduled) return;
      this.#postScheduled = true;
      setImmediate(() => {
        this.#postScheduled = false;
        if (!this.#batchOnThread) this.#post();
      });
    });
  }

  #post(): void {
    if (this.#queued.length === 0 || !this.#worker) return;
    this.#batchOnThread = true;
    this.#batchesSent++;
    this.#worker.postMessage(this.#queued);
    this.#queued = [];
  }

  #start(): Worker {
    const worker = new Worker(runtimeFile('store/file-writer-thread.mjs'));
    worker.unref();
    worker.on('message', (replies: Reply[]) => {
      this.#batchOnThread = false;
      this.#post();
      for (const { id, error } of replies) {
        const pending = this.#pending.get(id);
        this.#pending.delete(id);
        if (error) pending?.reject(fsError(error));
        else pending?.resolve();
      }
      if (this.#pending.size === 0) worker.unref();
    });
    const lost = (error: Error) => {
      if (this.#worker !== worker) return;
      this.#worker = null;
      this.#batchOnThread = false;
      this.#queued = [];
      for (const { reject } of this.#pending.values()) reject(error);
      this.#pending.clear();
    };
    worker.on('error', lost);
    worker.on('exit', (code) =>
      lost(new Error(`the store's file-writer thread stopped (exit code ${code})`)),
    );
    this.#worker = worker;
    return worker;
  }
}

let shared: FileWriterThread | null = null;

/** The process's one writer thread, started at the first write. */
export function fileWriterThread(): FileWriterThread {
  shared ??= new FileWriterThread();
  return shared;
}
