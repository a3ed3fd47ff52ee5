/** The admin policy in lowdb: policy.json, read at open and cached in memory; writes take one lock. */
import { join } from 'node:path';
import { Low } from 'lowdb';
import { DEFAULT_POLICY, type Policy, type SavedPolicy } from '../../../shared/api';
import type { StoreFs } from '../fs';
import { deepFreeze, PolicySchema, parserFor } from '../records';
import { DurableJsonFile } from './durable-json-file';
import { KeyedMutex } from './keyed-mutex';

export class LowdbPolicy {
  readonly #policy: Low<SavedPolicy>;
  readonly #policyLock = new KeyedMutex();

  constructor(dataDir: string, fs: StoreFs) {
    this.#policy = new Low(
      new DurableJsonFile(join(dataDir, 'policy.json'), parserFor(PolicySchema), fs),
      structuredClone(DEFAULT_POLICY),
    );
  }

  /** Throws CorruptFileError when policy.json cannot be read: a default policy would be wrong. */
  async read(): Promise<void> {
    await this.#policy.read();
    deepFreeze(this.#policy.data);
  }

  idle(): Promise<void> {
    return this.#policyLock.idle();
  }

  /** Frozen: handed out as it is (every sign-in reads it), and no reader can change it. */
  getPolicy(): Policy {
    return this.#policy.data;
  }

  async setPolicy(policy: Policy): Promise<void> {
    const checked = PolicySchema.parse(policy);
    await this.#policyLock.run('policy', async () => {
      await this.#policy.adapter.write(checked);
      this.#policy.data = deepFreeze(checked);
    });
  }
}
