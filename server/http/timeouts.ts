/**
 * The Node HTTP(S) server's own clocks, for every request. Node's defaults (headers 60 s, whole request
 * 300 s, checked every 30 s) let a client that trickles a request hold its socket for minutes; nothing
 * SpareKey is sent takes more than a few seconds. The sign-in paths have a shorter body clock of
 * their own (SIGN_IN_BODY_TIMEOUT_MS, http/overload.ts) that answers 408 before these close anything.
 */
import type { ServerOptions } from 'node:http';

export const SERVER_TIMEOUTS = {
  /** From the connection (or the previous request) to the end of the headers. */
  headersTimeout: 10_000,
  /** From the connection to the end of the whole request, body included. */
  requestTimeout: 30_000,
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeout: 5_000,
  /** How often the two clocks above are checked: they are enforced to within this. */
  connectionsCheckingInterval: 1_000,
} as const satisfies ServerOptions;
