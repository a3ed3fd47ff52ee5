/**
 * The vault on the real browser storage. Popup, options and background each call `browserVault()`;
 * they share state through storage, so separate instances agree.
 */
import browser from 'webextension-polyfill';
import { createVault, type Vault } from './vault';

export type {
  KeepResult,
  KeptCode,
  ServerCodeStatus,
  TakeResult,
  UnlockResult,
  Vault,
  VaultOwner,
  VaultStatus,
} from './vault';
export { DEFAULT_IDLE_MINUTES, MAX_IDLE_MINUTES, MIN_PASSPHRASE_LENGTH, VAULT_IDLE_ALARM } from './vault';

let instance: Vault | undefined;

export function browserVault(): Vault {
  instance ??= createVault({
    local: browser.storage.local,
    session: browser.storage.session,
    alarms: browser.alarms,
    now: Date.now,
  });
  return instance;
}
