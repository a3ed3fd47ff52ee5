/**
 * What the crash test's clients know: each user's sets of backup codes and, for every code, what
 * the server told us about it. The checks compare this with what the server holds after a restart.
 */

export type CodeState =
  /** Never sent: it must still be unused. */
  | 'unsent'
  /** A sign-in with it is on the wire. */
  | 'inflight'
  /** The server answered 200: it must stay spent. */
  | 'acked'
  /** Sent, no answer (the server died): spent or still working, nothing in between. */
  | 'uncertain'
  /** Was uncertain, and the store shows it spent: the sign-in it began never completed. */
  | 'spent'
  /** Refused with 401 while its set was being replaced: only allowed for a set that is no longer current. */
  | 'refused';

export interface CodeModel {
  number: number;
  code: string;
  state: CodeState;
}

export interface SetModel {
  generatedAt: string;
  codes: CodeModel[];
  /** Set once a code of this dead set was checked to be refused. */
  checkedDead: boolean;
}

export interface UserModel {
  id: string;
  username: string;
  password: string;
  session: string;
  current: SetModel | null;
  dead: SetModel[];
  /** A generation on the wire (none answered yet); after a crash, whether it landed is found out. */
  generating: 'no' | 'inflight' | 'uncertain';
}

export function setFromResponse(body: {
  codes: { number: number; code: string }[];
  generatedAt: string;
}): SetModel {
  return {
    generatedAt: body.generatedAt,
    codes: body.codes.map((c) => ({ number: c.number, code: c.code, state: 'unsent' })),
    checkedDead: false,
  };
}

/** A violation of the crash-safety rules, collected so one run reports all of them. */
export class Violations {
  readonly list: string[] = [];
  add(message: string) {
    this.list.push(message);
  }
}

export function pick<T>(items: T[]): T | undefined {
  return items[Math.floor(Math.random() * items.length)];
}
