import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeFs, type StoreFs } from '../../server/store/fs';
import { AppendLog, type LineSpan } from '../../server/store/lowdb/append-log';
import { KeyedMutex } from '../../server/store/lowdb/keyed-mutex';
import { tempDir } from './store-fixtures';

/**
 * The real disk, except that once `disk.failNextAppendHalfway` is set, the next durable append
 * writes its first four bytes and fails, and the truncate that follows fails too.
 */
function diskFailingMidAppend(disk: { failNextAppendHalfway: boolean }): StoreFs {
  return {
    ...nodeFs,
    open: async (path, flags, mode) => {
      const handle = await nodeFs.open(path, flags, mode);
      let failTruncate = false;
      return {
        ...handle,
        appendDurably: async (text) => {
          if (!disk.failNextAppendHalfway) return handle.appendDurably(text);
          disk.failNextAppendHalfway = false;
          failTruncate = true;
          await handle.appendDurably(text.slice(0, 4));
          throw new Error('EIO: i/o error, write');
        },
        truncate: async (length) => {
          if (failTruncate) {
            failTruncate = false;
            throw new Error('EIO: i/o error, truncate');
          }
          return handle.truncate(length);
        },
      };
    },
  };
}

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

describe('AppendLog positions', () => {
  it('scans every line once with its byte span, multi-byte and longer-than-a-chunk lines included', async () => {
    const path = join(await tempDir(), 'log.jsonl');
    // Over the 1 MiB scan piece, so a line runs across pieces; accents and emoji take several bytes.
    const long = `{"long":"${'é🔑'.repeat(200_000)}"}`;
    const lines = ['{"a":"Ünïcødé"}', long, '{"b":2}', long, '{"c":"✓"}'];
    // An empty line in the middle is no line, but its byte still counts in the offsets after it.
    const inFile = [lines[0], '', ...lines.slice(1)];
    await writeFile(path, `${inFile.map((line) => `${line}\n`).join('')}{"torn":`);
    const log = new AppendLog(path);
    await log.open();
    const seen: { line: string; span: LineSpan }[] = [];
    await log.scan((line, span) => seen.push({ line, span }));
    expect(seen.map((entry) => entry.line)).toEqual(lines);
    const expected: LineSpan[] = [];
    let offset = 0;
    for (const line of inFile as string[]) {
      const length = Buffer.byteLength(line);
      if (length > 0) expected.push({ offset, length });
      offset += length + 1;
    }
    expect(seen.map((entry) => entry.span)).toEqual(expected);
    expect(await log.readSpans(seen.map((entry) => entry.span).reverse())).toEqual([...lines].reverse());
    await log.close();
  });

  it('tells each appended line where it landed, in file order, also after a torn line was cut', async () => {
    const path = join(await tempDir(), 'log.jsonl');
    await writeFile(path, '{"kept":1}\n{"torn":');
    const spans: { line: string; span: LineSpan }[] = [];
    const log = new AppendLog(path, { onAppend: (line, span) => spans.push({ line, span }) });
    await log.open();
    const lines = Array.from({ length: 50 }, (_, i) =>
      JSON.stringify({ i, agent: 'Ünïcødé ✓'.repeat(i % 3) }),
    );
    await Promise.all(lines.map((line) => log.append(line)));
    expect(spans.map((entry) => entry.line)).toEqual(lines);
    expect(spans[0]?.span.offset).toBe(Buffer.byteLength('{"kept":1}\n'));
    expect(await log.readSpans(spans.map((entry) => entry.span))).toEqual(lines);
    await log.close();
  });

  it('says when a rewrite emptied the file, and the spans after it start again from the top', async () => {
    const spans: LineSpan[] = [];
    let emptied = 0;
    const log = new AppendLog(join(await tempDir(), 'log.jsonl'), {
      onAppend: (_line, span) => spans.push(span),
      onEmptied: () => emptied++,
    });
    await log.open();
    await log.append('old-1');
    await log.rewrite(async () => {});
    expect(emptied).toBe(1);
    await log.append('new-1');
    expect(spans).toEqual([
      { offset: 0, length: 5 },
      { offset: 0, length: 5 },
    ]);
    expect(await log.readSpans([spans[1] as LineSpan])).toEqual(['new-1']);
    await log.close();
  });

  it('refuses a span that is not exactly one whole line, instead of returning part of one', async () => {
    const log = await openLog();
    await log.append('{"a":1}');
    await log.append('{"b":2}');
    await expect(log.readSpans([{ offset: 1, length: 6 }])).rejects.toThrow(/no line at 1/);
    await expect(log.readSpans([{ offset: 0, length: 3 }])).rejects.toThrow(/no line at 0/);
    await expect(log.readSpans([{ offset: 0, length: 15 }])).rejects.toThrow(/no line at 0/);
    await expect(log.readSpans([{ offset: 8, length: 7 }])).resolves.toEqual(['{"b":2}']);
    await expect(log.readSpans([{ offset: 16, length: 7 }])).rejects.toThrow(/no line at 16/);
    await log.close();
  });

  it('after a write that failed halfway and could not be cut back, the next line still lands where it is said to', async () => {
    const spans: LineSpan[] = [];
    const disk = { failNextAppendHalfway: false };
    const log = new AppendLog(join(await tempDir(), 'log.jsonl'), {
      onAppend: (_line, span) => spans.push(span),
      fs: diskFailingMidAppend(disk),
    });
    await log.open();
    await log.append('first');
    // The disk fails mid-write, and the cut-back after it fails too: half a line stays in the file.
    disk.failNextAppendHalfway = true;
    await expect(log.append('lost')).rejects.toThrow('EIO');
    await log.append('second');
    expect(await readFile(log.path, 'utf8')).toBe('first\nsecond\n');
    expect(spans).toEqual([
      { offset: 0, length: 5 },
      { offset: 6, length: 6 },
    ]);
    expect(await log.readSpans(spans)).toEqual(['first', 'second']);
    await log.close();
  });

  it('reads backwards from a given line, leaving out that line and the ones after it', async () => {
    const spans: LineSpan[] = [];
    const log = new AppendLog(join(await tempDir(), 'log.jsonl'), {
      onAppend: (_line, span) => spans.push(span),
    });
    await log.open();
    for (const line of ['one', 'two', 'three', 'four']) await log.append(line);
    expect(await collect(log.readBackwards(spans[2]?.offset))).toEqual(['two', 'one']);
    expect(await collect(log.readBackwards(0))).toEqual([]);
    expect(await collect(log.readBackwards())).toEqual(['four', 'three', 'two', 'one']);
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
