/**
 * The connection pool and the two ways the store talks to PostgreSQL: one statement (`query`) or a
 * transaction on one connection (`transaction`). Both turn a lost or unreachable database into
 * StoreUnavailableError, so the app answers 503 instead of 500 and never waits without bound.
 */
import pg from 'pg';
import { StoreUnavailableError } from '../types';

export interface PostgresOptions {
  /** postgres://user:password@host:port/database?sslmode=verify-full&sslrootcert=… (TLS options ride in the URL). */
  url: string;
  /** Connections per instance. */
  poolSize?: number;
  /** The longest one statement (and one wait for a connection) may take before the request gets 503. */
  statementTimeoutMs?: number;
}

/** Requests wait on argon2id (the libuv threads), not on the database: a few connections per hashing thread suffice. */
export function defaultPoolSize(): number {
  const hashingThreads = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  return 2 * hashingThreads + 2;
}

export const DEFAULT_STATEMENT_TIMEOUT_MS = 5000;

// SQLSTATEs that mean "not now" rather than "wrong": connection exceptions (08), shutdown and
// start-up (57P0x), statement timeout (57014), too many connections and other resource limits (53).
const UNAVAILABLE_STATES = /^(08|53|57P0|57014|40001|40P01|55P03)/;
const UNAVAILABLE_SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNABORTED',
]);
// node-postgres reports a dropped socket and its own timeouts without a code.
const UNAVAILABLE_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|Query read timeout|connection error|Connection closed/i;

/** The reason this error means the database cannot serve now, or null for any other error. */
export function unavailableReason(error: unknown): string | null {
  if (!(error instanceof Error)) return null;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (UNAVAILABLE_STATES.test(code) || UNAVAILABLE_SOCKET_CODES.has(code))) {
    return `${code} ${error.message}`;
  }
  if (UNAVAILABLE_MESSAGES.test(error.message)) return error.message;
  // AggregateError (several addresses refused, e.g. localhost on ::1 and 127.0.0.1).
  if (error instanceof AggregateError) {
    for (const inner of error.errors) {
      const reason = unavailableReason(inner);
      if (reason) return reason;
    }
  }
  return null;
}

function translate(error: unknown): unknown {
  const reason = unavailableReason(error);
  return reason ? new StoreUnavailableError(reason, { cause: error }) : error;
}

/** The SQLSTATE of a database error (23505 unique violation, …), or undefined. */
export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The constraint a violation names (for telling a taken username from a taken id). */
export function violatedConstraint(error: unknown): string | undefined {
  const name = (error as { constraint?: unknown } | null)?.constraint;
  return typeof name === 'string' ? name : undefined;
}

export interface Queryable {
  query<R extends object = Record<string, unknown>>(text: string, params?: unknown[]): Promise<R[]>;
}

export class Db implements Queryable {
  readonly pool: pg.Pool;

  constructor(options: PostgresOptions, onIdleError: (error: Error) => void) {
    const timeout = options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS;
    this.pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize ?? defaultPoolSize(),
      application_name: 'sparekey',
      // Waiting for a connection (pool full, or a host that drops packets) is bounded like a statement.
      connectionTimeoutMillis: timeout,
      statement_timeout: timeout,
      // The client-side bound, for a socket whose peer vanished without closing it.
      query_timeout: timeout + 1000,
      // A transaction whose instance died never holds a user's row lock for long.
      idle_in_transaction_session_timeout: 2 * timeout,
      keepAlive: true,
      idleTimeoutMillis: 30_000,
    });
    // A pooled connection the server closes (a restart) is an event, not a crash of the process.
    this.pool.on('error', onIdleError);
  }

  async query<R extends object = Record<string, unknown>>(
    text: string,
    params: unknown[] = [],
  ): Promise<R[]> {
    try {
      return (await this.pool.query<R>(text, params)).rows;
    } catch (error) {
      throw translate(error);
    }
  }

  /**
   * Runs `work` in one transaction (READ COMMITTED) on one connection: committed when it resolves,
   * rolled back when it throws. A connection lost midway is dropped, never returned to the pool.
   */
  async transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw translate(error);
    }
    const ignore = () => {};
    // A socket error while this connection is checked out must not become an uncaught 'error' event.
    client.on('error', ignore);
    const tx: Queryable = {
      query: async <R extends object>(text: string, params: unknown[] = []) =>
        (await client.query<R>(text, params)).rows,
    };
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await work(tx);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      if (unavailableReason(error)) broken = error as Error;
      else {
        try {
          await client.query('ROLLBACK');
        } catch (rollbackError) {
          broken = rollbackError as Error;
        }
      }
      throw translate(error);
    } finally {
      client.off('error', ignore);
      client.release(broken);
    }
  }

  end(): Promise<void> {
    return this.pool.end();
  }
}

/** Where the URL points, for messages: host, port and database, never the user or password. */
export function describeTarget(url: string): string {
  try {
    const parsed = new URL(url);
    const host = parsed.hostname || parsed.searchParams.get('host') || 'localhost';
    const port = parsed.port || '5432';
    return `${host}:${port}${parsed.pathname || '/'}`;
  } catch {
    return 'DATABASE_URL (unparsable)';
  }
}
