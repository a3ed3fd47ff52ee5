/**
 * A TCP relay between a server and the test cluster that reads what the server sends and keeps the
 * statements it waits for: each simple Query ('Q') and each Sync ('S', the end of one extended-
 * protocol statement: Parse, Bind, Execute, Sync) is one round trip, BEGIN and COMMIT included. It
 * watches the real wire, so it counts whatever the store does, through the pool or a transaction.
 */
import { connect, createServer, type Socket } from 'node:net';

/** The first message of a connection has no type byte; this code (protocol 3.0) ends that phase. */
const STARTUP_PROTOCOL = 196608;

export interface WireTally {
  /** `databaseUrl` with its host and port replaced by the relay's. */
  url: string;
  /** The statements sent so far, oldest first (their SQL text; the rest of the wire is not kept). */
  statements(): string[];
  close(): Promise<void>;
}

/** Reads the client's side of one connection and appends each statement's text to `sent`. */
function tallyClient(sent: string[]): (chunk: Buffer) => void {
  let buffered = Buffer.alloc(0);
  let started = false;
  let parsed: string | null = null;
  return (chunk) => {
    buffered = Buffer.concat([buffered, chunk]);
    for (;;) {
      if (!started) {
        if (buffered.length < 8) return;
        const length = buffered.readInt32BE(0);
        if (buffered.length < length) return;
        // An SSLRequest or GSSENCRequest comes before the startup message; neither is a statement.
        started = buffered.readInt32BE(4) === STARTUP_PROTOCOL;
        buffered = buffered.subarray(length);
        continue;
      }
      if (buffered.length < 5) return;
      const type = String.fromCharCode(buffered[0] as number);
      const end = 1 + buffered.readInt32BE(1);
      if (buffered.length < end) return;
      const body = buffered.subarray(5, end);
      if (type === 'Q') sent.push(body.toString('utf8', 0, body.indexOf(0)));
      if (type === 'P') {
        // Parse: the statement's name, then its text, each ending with a zero byte.
        const textStart = body.indexOf(0) + 1;
        parsed = body.toString('utf8', textStart, body.indexOf(0, textStart));
      }
      if (type === 'S') {
        sent.push(parsed ?? '(a prepared statement)');
        parsed = null;
      }
      buffered = buffered.subarray(end);
    }
  };
}

export async function startWireTally(databaseUrl: string): Promise<WireTally> {
  const target = new URL(databaseUrl);
  const sent: string[] = [];
  const sockets = new Set<Socket>();
  const relay = createServer((client) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      // One side gone ends the other, as a direct connection would.
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', tallyClient(sent));
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((listening) => relay.listen(0, '127.0.0.1', listening));
  const address = relay.address();
  if (!address || typeof address === 'string') throw new Error('the relay has no TCP address');
  const url = new URL(databaseUrl);
  url.hostname = '127.0.0.1';
  url.port = String(address.port);
  return {
    url: url.toString(),
    statements: () => [...sent],
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((closed) => relay.close(() => closed()));
    },
  };
}
