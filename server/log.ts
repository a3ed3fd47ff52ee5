/**
 * Structured logs: one JSON object per line. Callers pass only what is safe to keep: a path, never a
 * query string or body, so no code, password or token can reach a log.
 */
export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface Logger {
  info(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

/** The process's own logger also warns (a setting that works but weakens security, at start). */
export interface ProcessLogger extends Logger {
  warn(msg: string, fields?: LogFields): void;
}

export function jsonLogger(
  write: (line: string) => void = (line) => process.stdout.write(line),
): ProcessLogger {
  const emit = (level: string, msg: string, fields: LogFields = {}) =>
    write(`${JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields })}\n`);
  return {
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
  };
}

export const silentLogger: Logger = { info() {}, error() {} };
