/**
 * A StoreFs that passes every call to the real file system under `root` and, beside it, keeps a model
 * of what a power cut could leave (the abstract persistence model of ALICE, OSDI 2014):
 *
 * - a file's data is durable only once it is fsynced (fsync or fdatasync on a handle); until then
 *   each write or truncate since the last fsync may or may not have reached the disk, in order,
 *   and the last one that did may be torn at a block;
 * - a directory's entries (a create, rename, unlink or mkdir in it) are durable only once the
 *   directory itself is fsynced; until then a prefix of its changes since may have reached the disk
 *   (a journalling file system commits them in order; a rename is one change).
 *
 * After every call that changes something it records a crash point: the durable state plus what
 * is pending. ./crash-states.ts turns each point into the disk states a power cut could leave.
 */
import { relative, sep } from 'node:path';
import {
  appendStepByStep,
  nodeFs,
  replaceFileStepByStep,
  type StoreFileHandle,
  type StoreFs,
} from '../../../server/store/fs';

export type FileChange =
  | { kind: 'write'; offset: number; data: Buffer }
  | { kind: 'truncate'; length: number };
export type DirChange =
  | { kind: 'link'; name: string; node: number }
  | { kind: 'unlink'; name: string }
  | { kind: 'rename'; from: string; to: string };

/** A node as a crash point saw it: what is durable, and the changes since that may be lost. */
export type FrozenNode =
  | { kind: 'file'; durable: Buffer; pending: readonly FileChange[] }
  | { kind: 'dir'; durable: ReadonlyMap<string, number>; pending: readonly DirChange[] };

export interface CrashPoint {
  /** The call after which the power is cut, e.g. "rename users/.x.tmp -> users/x.json". */
  after: string;
  nodes: ReadonlyMap<number, FrozenNode>;
  /** How many acknowledged writes (see RecordingFs.ack) preceded the cut. */
  acked: number;
}

export const ROOT_NODE = 0;

interface FileState {
  kind: 'file';
  durable: Buffer;
  pending: FileChange[];
  current: Buffer;
}
interface DirState {
  kind: 'dir';
  durable: Map<string, number>;
  pending: DirChange[];
  current: Map<string, number>;
}

export function applyFileChange(data: Buffer, change: FileChange): Buffer {
  if (change.kind === 'truncate') {
    return change.length <= data.length
      ? Buffer.from(data.subarray(0, change.length))
      : Buffer.concat([data, Buffer.alloc(change.length - data.length)]);
  }
  const end = change.offset + change.data.length;
  const out = Buffer.alloc(Math.max(data.length, end));
  data.copy(out);
  change.data.copy(out, change.offset);
  return out;
}

export function applyDirChange(entries: Map<string, number>, change: DirChange): void {
  if (change.kind === 'link') entries.set(change.name, change.node);
  else if (change.kind === 'unlink') entries.delete(change.name);
  else {
    const node = entries.get(change.from);
    entries.delete(change.from);
    if (node !== undefined) entries.set(change.to, node);
  }
}

export class RecordingFs implements StoreFs {
  readonly points: CrashPoint[] = [];
  readonly #nodes = new Map<number, FileState | DirState>();
  #nextNode = ROOT_NODE + 1;
  #acked = 0;

  /** `root` must exist, be empty, and be durable (the test's fresh directory). */
  constructor(readonly root: string) {
    this.#nodes.set(ROOT_NODE, { kind: 'dir', durable: new Map(), pending: [], current: new Map() });
    this.#point('start');
  }

  /** The workload calls this when a write's promise has resolved: crash points from here on must keep it. */
  ack(): number {
    this.#acked++;
    // A cut right after the promise resolved leaves the disk as the last call left it.
    const last = this.points.at(-1);
    if (last) this.points[this.points.length - 1] = { ...last, acked: this.#acked };
    return this.#acked;
  }

  async open(path: string, flags: 'r' | 'wx' | 'a+', mode?: number): Promise<StoreFileHandle> {
    const existing = this.#lookup(path);
    const handle = await nodeFs.open(path, flags, mode);
    let node = existing;
    if (node === undefined && flags !== 'r') {
      node = this.#createFile(path);
      this.#point(`create ${this.#rel(path)}`);
    }
    if (node === undefined) throw new Error(`recorder: ${path} opened but unknown to the model`);
    return this.#wrap(handle, node, path, flags);
  }

  readFile(path: string, encoding: 'utf8'): Promise<string> {
    return nodeFs.readFile(path, encoding);
  }

  readdir(path: string): Promise<string[]> {
    return nodeFs.readdir(path);
  }

  stat(path: string) {
    return nodeFs.stat(path);
  }

  async rename(from: string, to: string): Promise<void> {
    await nodeFs.rename(from, to);
    const a = this.#split(from);
    const b = this.#split(to);
    if (a.dir !== b.dir) throw new Error('recorder: renames across directories are not modelled');
    this.#dirChange(a.dir, { kind: 'rename', from: a.name, to: b.name });
    this.#point(`rename ${this.#rel(from)} -> ${this.#rel(to)}`);
  }

  /** The store's durable replacement, call by call: the sequence the file-writer thread makes. */
  replaceFile(path: string, text: string): Promise<void> {
    return replaceFileStepByStep(this, path, text);
  }

  async unlink(path: string): Promise<void> {
    await nodeFs.unlink(path);
    const { dir, name } = this.#split(path);
    this.#dirChange(dir, { kind: 'unlink', name });
    this.#point(`unlink ${this.#rel(path)}`);
  }

  async mkdir(path: string, options: { recursive: true; mode: number }): Promise<unknown> {
    const result = await nodeFs.mkdir(path, options);
    const parts = this.#rel(path).split(sep).filter(Boolean);
    let parent = ROOT_NODE;
    for (const [i, part] of parts.entries()) {
      const dir = this.#dir(parent);
      let child = dir.current.get(part);
      if (child === undefined) {
        child = this.#nextNode++;
        this.#nodes.set(child, { kind: 'dir', durable: new Map(), pending: [], current: new Map() });
        this.#dirChange(parent, { kind: 'link', name: part, node: child });
        this.#point(`mkdir ${parts.slice(0, i + 1).join('/')}`);
      }
      parent = child;
    }
    return result;
  }

  #wrap(handle: StoreFileHandle, node: number, path: string, flags: string): StoreFileHandle {
    let position = 0;
    const state = this.#nodes.get(node);
    const name = this.#rel(path);
    const write = (data: Buffer) => {
      const file = this.#file(node);
      const offset = flags === 'a+' ? file.current.length : position;
      this.#fileChange(node, { kind: 'write', offset, data: Buffer.from(data) });
      position = offset + data.length;
      this.#point(`write ${name} ${data.length} bytes at ${offset}`);
    };
    const recorded: StoreFileHandle = {
      read: (buffer, offset, length, at) => handle.read(buffer, offset, length, at),
      stat: () => handle.stat(),
      close: () => handle.close(),
      write: async (buffer, offset, length) => {
        const result = await handle.write(buffer, offset, length);
        write(buffer.subarray(offset, offset + result.bytesWritten));
        return result;
      },
      writeFile: async (data, encoding) => {
        await handle.writeFile(data, encoding);
        write(Buffer.from(data, encoding));
      },
      truncate: async (length) => {
        await handle.truncate(length);
        this.#fileChange(node, { kind: 'truncate', length });
        this.#point(`truncate ${name} to ${length}`);
      },
      sync: async () => {
        await handle.sync();
        this.#sync(node);
        this.#point(`${state?.kind === 'dir' ? 'fsync dir' : 'fsync'} ${name || '.'}`);
      },
      datasync: async () => {
        await handle.datasync();
        this.#sync(node);
        this.#point(`fdatasync ${name}`);
      },
      // The store's durable append, call by call: the sequence the file-writer thread makes.
      appendDurably: (text) => appendStepByStep(recorded, text),
    };
    return recorded;
  }

  #sync(node: number): void {
    const state = this.#nodes.get(node);
    if (!state) return;
    if (state.kind === 'file') {
      state.durable = state.current;
      state.pending = [];
    } else {
      state.durable = new Map(state.current);
      state.pending = [];
    }
  }

  #createFile(path: string): number {
    const { dir, name } = this.#split(path);
    const node = this.#nextNode++;
    const empty = Buffer.alloc(0);
    this.#nodes.set(node, { kind: 'file', durable: empty, pending: [], current: empty });
    this.#dirChange(dir, { kind: 'link', name, node });
    return node;
  }

  #fileChange(node: number, change: FileChange): void {
    const file = this.#file(node);
    file.pending.push(change);
    file.current = applyFileChange(file.current, change);
  }

  #dirChange(node: number, change: DirChange): void {
    const dir = this.#dir(node);
    dir.pending.push(change);
    applyDirChange(dir.current, change);
  }

  #point(after: string): void {
    const nodes = new Map<number, FrozenNode>();
    for (const [id, state] of this.#nodes) {
      nodes.set(
        id,
        state.kind === 'file'
          ? { kind: 'file', durable: state.durable, pending: [...state.pending] }
          : { kind: 'dir', durable: state.durable, pending: [...state.pending] },
      );
    }
    this.points.push({ after, nodes, acked: this.#acked });
  }

  #lookup(path: string): number | undefined {
    let node: number | undefined = ROOT_NODE;
    for (const part of this.#rel(path).split(sep).filter(Boolean)) {
      const state: FileState | DirState | undefined = node === undefined ? undefined : this.#nodes.get(node);
      if (state?.kind !== 'dir') return undefined;
      node = state.current.get(part);
    }
    return node;
  }

  #split(path: string): { dir: number; name: string } {
    const parts = this.#rel(path).split(sep).filter(Boolean);
    const name = parts.pop();
    const dir = this.#lookup(`${this.root}${sep}${parts.join(sep)}`);
    if (name === undefined || dir === undefined) throw new Error(`recorder: no directory for ${path}`);
    return { dir, name };
  }

  #rel(path: string): string {
    const rel = relative(this.root, path);
    if (rel.startsWith('..')) throw new Error(`recorder: ${path} is outside ${this.root}`);
    return rel;
  }

  #file(node: number): FileState {
    const state = this.#nodes.get(node);
    if (state?.kind !== 'file') throw new Error(`recorder: node ${node} is not a file`);
    return state;
  }

  #dir(node: number): DirState {
    const state = this.#nodes.get(node);
    if (state?.kind !== 'dir') throw new Error(`recorder: node ${node} is not a directory`);
    return state;
  }
}
