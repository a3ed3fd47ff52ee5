/**
 * From a crash point (./recording-fs.ts) to the disk states a power cut there could leave, and from
 * a disk state to a real directory the store can open.
 *
 * For each file with unsynced changes: none, each prefix of them, the last one torn at every
 * 512-byte sector inside it, and all of them with their data never written (the size made durable
 * before the data, as ext4 with data=writeback allows: zeros). For each directory with unsynced
 * entries: each prefix of its changes. A state picks one of these for every file and directory;
 * when there are more combinations than `limit`, a deterministic sample (seeded by the point) is
 * taken, always with the two extremes (nothing pending survived, everything did).
 */
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  applyDirChange,
  applyFileChange,
  type CrashPoint,
  type FileChange,
  type FrozenNode,
  ROOT_NODE,
} from './recording-fs';

export const SECTOR = 512;

export interface DiskState {
  /** Paths relative to the data directory: a Buffer for a file, null for a directory. */
  entries: Map<string, Buffer | null>;
  /** Identical states found at different points are checked once. */
  key: string;
}

type Variant = { kind: 'file'; data: Buffer } | { kind: 'dir'; entries: Map<string, number> };

function fileVariants(durable: Buffer, pending: readonly FileChange[]): Variant[] {
  const out: Buffer[] = [durable];
  let data = durable;
  for (const change of pending) {
    if (change.kind === 'write') {
      const first = SECTOR - (change.offset % SECTOR);
      for (let cut = first; cut < change.data.length; cut += SECTOR) {
        out.push(applyFileChange(data, { ...change, data: change.data.subarray(0, cut) }));
      }
    }
    data = applyFileChange(data, change);
    out.push(data);
  }
  if (pending.some((change) => change.kind === 'write')) {
    out.push(
      pending.reduce(
        (zeroed, change) =>
          applyFileChange(
            zeroed,
            change.kind === 'write' ? { ...change, data: Buffer.alloc(change.data.length) } : change,
          ),
        durable,
      ),
    );
  }
  const seen = new Set<string>();
  return out
    .filter((buffer) => {
      const key = buffer.toString('base64');
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    })
    .map((buffer) => ({ kind: 'file', data: buffer }));
}

function variantsOf(node: FrozenNode): Variant[] {
  if (node.kind === 'file') return fileVariants(node.durable, node.pending);
  const out: Variant[] = [];
  const entries = new Map(node.durable);
  out.push({ kind: 'dir', entries: new Map(entries) });
  for (const change of node.pending) {
    applyDirChange(entries, change);
    out.push({ kind: 'dir', entries: new Map(entries) });
  }
  return out;
}

/** A small deterministic PRNG (mulberry32), so a failing sample is the same on every run. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function crashStates(point: CrashPoint, seed: number, limit: number): DiskState[] {
  // Only nodes some directory variant can reach matter (a renamed-over file, a closed temp file).
  const variants = new Map<number, Variant[]>();
  const queue = [ROOT_NODE];
  while (queue.length > 0) {
    const id = queue.pop() as number;
    if (variants.has(id)) continue;
    const node = point.nodes.get(id);
    if (!node) continue;
    const own = variantsOf(node);
    variants.set(id, own);
    for (const variant of own) if (variant.kind === 'dir') queue.push(...variant.entries.values());
  }
  const choices = [...variants.entries()].filter(([, own]) => own.length > 1);
  const total = choices.reduce((product, [, own]) => product * own.length, 1);
  const picks: number[][] = [];
  if (total <= limit) {
    for (let n = 0; n < total; n++) {
      let rest = n;
      picks.push(
        choices.map(([, own]) => {
          const pick = rest % own.length;
          rest = Math.floor(rest / own.length);
          return pick;
        }),
      );
    }
  } else {
    const next = random(seed);
    picks.push(choices.map(() => 0));
    picks.push(choices.map(([, own]) => own.length - 1));
    while (picks.length < limit) picks.push(choices.map(([, own]) => Math.floor(next() * own.length)));
  }
  return picks.map((pick) => {
    const chosen = new Map<number, Variant>();
    for (const [id, own] of variants) chosen.set(id, own[0] as Variant);
    choices.forEach(([id, own], i) => {
      chosen.set(id, own[pick[i] as number] as Variant);
    });
    return materialise(chosen);
  });
}

function materialise(chosen: Map<number, Variant>): DiskState {
  const entries = new Map<string, Buffer | null>();
  const walk = (id: number, prefix: string) => {
    const variant = chosen.get(id);
    if (variant?.kind !== 'dir') return;
    for (const [name, child] of [...variant.entries].sort(([a], [b]) => a.localeCompare(b))) {
      const path = prefix ? `${prefix}/${name}` : name;
      const node = chosen.get(child);
      if (!node) continue;
      if (node.kind === 'dir') {
        entries.set(path, null);
        walk(child, path);
      } else {
        entries.set(path, node.data);
      }
    }
  };
  walk(ROOT_NODE, '');
  const hash = createHash('sha256');
  for (const [path, data] of entries) {
    hash.update(path).update('\0');
    hash.update(data === null ? 'dir' : createHash('sha256').update(data).digest('hex')).update('\0');
  }
  return { entries, key: hash.digest('hex') };
}

/** Writes a disk state into `dir` (created; it must not exist yet). */
export async function writeDiskState(state: DiskState, dir: string): Promise<void> {
  await mkdir(dir);
  for (const [path, data] of state.entries) {
    if (data === null) await mkdir(join(dir, path), { recursive: true });
    else await writeFile(join(dir, path), data);
  }
}
