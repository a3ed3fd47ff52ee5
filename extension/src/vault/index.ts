/**
 * The vault on the real browser storage. Popup, options and background each call `browserVault()`;
 * they share state through storage, so separate instances agree.
 */
import browser from 'webextension-polyfill';
import { createVault, type KeyValueArea, type Vault } from './vault';

export type {
  Account,
  KeepResult,
  KeptCode,
  KeptSet,
  Reconciliation,
  ServerCodeStatus,
  SetFor,
  SigningIn,
  TakeResult,
  UnlockResult,
  Vault,
  VaultOwner,
  VaultStatus,
} from './vault';
export { DEFAULT_IDLE_MINUTES, MAX_IDLE_MINUTES, MIN_PASSPHRASE_LENGTH, VAULT_IDLE_ALARM } from './vault';

let instance: Vault | undefined;

/** Looks the storage area up on each call, not once: the one instance outlives any swap of `browser`. */
function area(name: 'local' | 'session'): KeyValueArea {
  return {
    get: (key) => browser.storage[name].get(key),
    set: (items) => browser.storage[name].set(items),
    remove: (key) => browser.storage[name].remove(key),
  };
}

/** One per context, so that its calls queue behind each other (two quick fills never share a code). */
export function browserVault(): Vault {
  instance ??= createVault({
    local: area('local'),
    session: area('session'),
    alarms: {
      create: (name, info) => browser.alarms.create(name, info),
      clear: (name) => browser.alarms.clear(name),
    },
    now: () => Date.now(),
  });
  return instance;
}
