/**
 * The lowdb store's storage key check, `DATA_DIR/key-check.json` (docs/SECURITY.md, "Secrets at
 * rest"): which key the sealed values are under, and whether all of them are. Read first at open,
 * before anything is written, so a wrong key refuses with one line and changes nothing.
 *
 * A rekey (server stopped) commits in one atomic write of this file: the new key becomes current and
 * the old one is kept wrapped under it until every value is re-sealed. A power cut before that write
 * leaves a store of the old key; after it, one of the new key, whose open finishes the re-sealing.
 */
import { join } from 'node:path';
import { z } from 'zod';
import type { StorageKey } from '../../crypto/sealing';
import type { StoreFs } from '../fs';
import { parserFor } from '../records';
import type { StoreSecrets } from '../secrets';
import { DurableJsonFile } from './durable-json-file';

export const KEY_CHECK_FILE = 'key-check.json';

const KeyCheckSchema = z.object({
  keyId: z.string(),
  previousKeyId: z.string().nullable(),
  /** During a rekey: the previous key, sealed under the current one. */
  previousKey: z.string().nullable(),
  /** Every sealed value is under keyId. False during the first pass and during a rekey. */
  complete: z.boolean(),
});
type KeyCheckFile = z.infer<typeof KeyCheckSchema>;

export class LowdbKeyCheck {
  readonly #file: DurableJsonFile<KeyCheckFile>;
  readonly #secrets: StoreSecrets;
  #check: KeyCheckFile | null = null;

  constructor(dataDir: string, fs: StoreFs, secrets: StoreSecrets) {
    this.#file = new DurableJsonFile(join(dataDir, KEY_CHECK_FILE), parserFor(KeyCheckSchema), fs);
    this.#secrets = secrets;
  }

  /** The key new values are sealed under; null: the store has no key (values stay clear). */
  get keyId(): string | null {
    return this.#check?.keyId ?? null;
  }

  /**
   * Reads the check (records this process's key on a store without one) and refuses a key the
   * store does not know. Resolves true when values may not all be under the current key yet.
   */
  async open(): Promise<boolean> {
    let check = await this.#file.read();
    if (check === null) {
      const initial = this.#secrets.initialCheck();
      if (!initial) return false;
      check = { ...initial, previousKey: null, complete: false };
      await this.#file.write(check);
    }
    if (check.previousKey !== null) this.#secrets.adoptWrapped(check.previousKey);
    this.#secrets.verify(check);
    this.#check = check;
    return !check.complete;
  }

  /** A rekey's commit point: `next` becomes current, the old key wrapped under it. */
  async switchTo(next: StorageKey, old: StorageKey): Promise<void> {
    const check = {
      keyId: next.id,
      previousKeyId: old.id,
      previousKey: this.#secrets.wrapKey(next.id, old),
      complete: false,
    };
    await this.#file.write(check);
    this.#check = check;
  }

  /** Every value is under the current key: the previous key is forgotten. */
  async complete(): Promise<void> {
    if (!this.#check) return;
    const check = { keyId: this.#check.keyId, previousKeyId: null, previousKey: null, complete: true };
    await this.#file.write(check);
    this.#check = check;
  }
}
