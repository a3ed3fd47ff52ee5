/**
 * Structured logs: one JSON object per line. Callers pass only what is safe to keep: a path, never a
 * query string or body, so no code, password or token can reach a log.
 */
export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface Logger {
  info(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

/**
 * The process's own logger also warns (a setting that works but weakens security, at start) and
 * writes debug lines (what an operator looks at while diagnosing, e.g. the effective settings).
 */
export interface ProcessLogger extends Logger {
  warn(msg: string, fields?: LogFields): void;
  debug(msg: string, fields?: LogFields): void;
}

/** LOG_LEVEL's values, most severe first: a level writes its own lines and those before it. */
export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * Lines to standard output, written together once per turn of the event loop: under load a turn
 * answers several requests, and one write(2) for their lines costs the event loop less than one each.
 * What is still held when the process exits is written then.
 */
export function stdoutInTurns(): (line: string) => void {
  let held: string[] = [];
  const flush = () => {
    if (held.length === 0) return;
    const text = held.join('');
    held = [];
    process.stdout.write(text);
  };
  process.once('exit', flush);
  return (line) => {
    if (held.push(line) === 1) setImmediate(flush);
  };
}

/** The process's standard output, written in turns: one writer, whichever logger was made first. */
let processStdout: ((line: string) => void) | null = null;
function toStdout(): (line: string) => void {
  processStdout ??= stdoutInTurns();
  return processStdout;
}

export function jsonLogger(
  write: (line: string) => void = toStdout(),
  threshold: LogLevel = 'info',
): ProcessLogger {
  const written = LOG_LEVELS.indexOf(threshold);
  const emit = (level: LogLevel, msg: string, fields: LogFields = {}) => {
    if (LOG_LEVELS.indexOf(level) > written) return;
    write(`${JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields })}\n`);
  };
  return {
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
  };
}

export const silentLogger: Logger = { info() {}, error() {} };
