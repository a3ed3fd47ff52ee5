/**
 * The file-writer thread does the store's durable replacements and appends: what it writes lands
 * whole, with the file modes the store relies on, and a request that fails reports node's error
 * (with its code) to its own caller only, even when it shared a batch with others.
 */
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileWriterThread } from '../../server/store/file-writer';
import { tempDir } from './store-fixtures';

describe('FileWriterThread', () => {
  it('replaces a file whole, readable by its owner only, and leaves no temporary file behind', async () => {
    const dir = await tempDir();
    const writer = new FileWriterThread();
    const path = join(dir, 'record.json');
    await writer.replace(path, '{"v":1}');
    await writer.replace(path, '{"v":2}');
    expect(await readFile(path, 'utf8')).toBe('{"v":2}');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(['record.json']);
  });

  it('fails only the request that failed, with its fs error code, when requests share a batch', async () => {
    const dir = await tempDir();
    const writer = new FileWriterThread();
    const results = await Promise.allSettled([
      writer.replace(join(dir, 'a.json'), 'a'),
      writer.replace(join(dir, 'missing', 'b.json'), 'b'),
      writer.replace(join(dir, 'c.json'), 'c'),
    ]);
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'ENOENT' });
    expect(await readFile(join(dir, 'a.json'), 'utf8')).toBe('a');
    expect(await readFile(join(dir, 'c.json'), 'utf8')).toBe('c');
  });

  it('sends the writes asked in one turn as one batch, and those asked while it runs as the next', async () => {
    const dir = await tempDir();
    const writer = new FileWriterThread();
    await Promise.all(['a', 'b', 'c'].map((name) => writer.replace(join(dir, `${name}.json`), name)));
    expect(writer.batchesSent).toBe(1);

    const first = writer.replace(join(dir, 'a.json'), 'a2');
    // The first batch is on the thread now: its answer cannot come before this turn ends.
    await new Promise((resolve) => setImmediate(resolve));
    const later = ['b', 'c'].map((name) => writer.replace(join(dir, `${name}.json`), `${name}2`));
    await Promise.all([first, ...later]);
    expect(writer.batchesSent).toBe(3);
    for (const name of ['a', 'b', 'c'])
      expect(await readFile(join(dir, `${name}.json`), 'utf8')).toBe(`${name}2`);
  });

  it('appends every byte at the end of a file opened for appending, in the order asked', async () => {
    const path = join(await tempDir(), 'log.jsonl');
    const handle = await open(path, 'a+', 0o600);
    const writer = new FileWriterThread();
    try {
      const long = `${'é'.repeat(200_000)}\n`;
      await Promise.all([writer.append(handle.fd, 'one\n'), writer.append(handle.fd, long)]);
      await writer.append(handle.fd, 'three\n');
    } finally {
      await handle.close();
    }
    expect(await readFile(path, 'utf8')).toBe(`one\n${'é'.repeat(200_000)}\nthree\n`);
  });

  it('rejects an append to a file that is not open for writing with the error node gives', async () => {
    const path = join(await tempDir(), 'log.jsonl');
    const readOnly = await open(path, 'wx', 0o600).then(async (created) => {
      await created.close();
      return open(path, 'r');
    });
    const writer = new FileWriterThread();
    try {
      await expect(writer.append(readOnly.fd, 'line\n')).rejects.toMatchObject({ code: 'EBADF' });
    } finally {
      await readOnly.close();
    }
    expect(await readFile(path, 'utf8')).toBe('');
  });
});
