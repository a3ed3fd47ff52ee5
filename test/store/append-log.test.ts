import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AppendLog } from '../../server/store/append-log';
import { KeyedMutex } from '../../server/store/keyed-mutex';
import { tempDir } from './store-fixtures';

async function openLog(): Promise<AppendLog> {
  const log = new AppendLog(join(await tempDir(), 'log.jsonl'));
  await log.open();
  return log;
}

async function collect(lines: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const line of lines) out.push(line);
  return out;
}

describe('AppendLog', () => {
  it('keeps every one of many concurrent appends, in the order they were made', async () => {
    const log = await openLog();
    const lines = Array.from({ length: 300 }, (_, i) => JSON.stringify({ i }));
    await Promise.all(lines.map((line) => log.append(line)));
    expect(await log.readAll()).toEqual(lines);
    expect(await collect(log.readBackwards())).toEqual([...lines].reverse());
    expect((await readFile(log.path, 'utf8')).split('\n')).toEqual([...lines, '']);
    await log.close();
  });

  it('refuses a line holding a newline, which would split one record in two', async () => {
    const log = await openLog();
    await expect(log.append('{"a":\n1}')).rejects.toThrow(/newline/);
    expect(await log.readAll()).toEqual([]);
    await log.close();
  });

  it('cuts a torn last line at open, even one with no newline at all', async () => {
    const dir = await tempDir();
    const path = join(dir, 'log.jsonl');
    await writeFile(path, '{"a":1}\n{"b":2}\n{"c":');
    const log = new AppendLog(path);
    await log.open();
    expect(await log.readAll()).toEqual(['{"a":1}', '{"b":2}']);
    await log.append('{"d":4}');
    expect(await readFile(path, 'utf8')).toBe('{"a":1}\n{"b":2}\n{"d":4}\n');
    await log.close();

    await writeFile(path, '{"only":"torn');
    const again = new AppendLog(path);
    await again.open();
    expect(await again.readAll()).toEqual([]);
    expect(await readFile(path, 'utf8')).toBe('');
    await again.close();
  });

  it('keeps the lines appended while a rewrite runs, and only those', async () => {
    const log = await openLog();
    await log.append('old-1');
    await log.append('old-2');
    let appendedDuring: Promise<void> = Promise.resolve();
    await log.rewrite(async () => {
      appendedDuring = log.append('new-1');
      await new Promise((resolve) => setTimeout(resolve, 10));
    });
    await appendedDuring;
    expect(await log.readAll()).toEqual(['new-1']);
    await log.close();
  });

  it('leaves the file untouched when the rewrite fails', async () => {
    const log = await openLog();
    await log.append('kept');
    await expect(
      log.rewrite(async () => {
        throw new Error('disk full');
      }),
    ).rejects.toThrow('disk full');
    await log.append('after');
    expect(await log.readAll()).toEqual(['kept', 'after']);
    await log.close();
  });
});

describe('KeyedMutex', () => {
  it('runs calls for one key one at a time, and calls for other keys alongside', async () => {
    const mutex = new KeyedMutex();
    const events: string[] = [];
    const task = (key: string, name: string) =>
      mutex.run(key, async () => {
        events.push(`${name} start`);
        await new Promise((resolve) => setTimeout(resolve, 5));
        events.push(`${name} end`);
      });
    await Promise.all([task('a', 'a1'), task('a', 'a2'), task('b', 'b1')]);
    expect(events.indexOf('a1 end')).toBeLessThan(events.indexOf('a2 start'));
    expect(events.indexOf('b1 start')).toBeLessThan(events.indexOf('a1 end'));
  });

  it('lets the calls queued behind a failed one run', async () => {
    const mutex = new KeyedMutex();
    const failed = mutex.run('a', async () => {
      throw new Error('boom');
    });
    const next = mutex.run('a', async () => 'ran');
    await expect(failed).rejects.toThrow('boom');
    await expect(next).resolves.toBe('ran');
    await mutex.idle();
  });
});
