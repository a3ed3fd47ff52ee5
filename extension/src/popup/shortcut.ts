import browser from 'webextension-polyfill';
import { FILL_COMMAND } from '../autofill/messages';

/** The keys the user has for the fill command (they can change them), or null when none is set. */
export async function fillShortcut(): Promise<string | null> {
  try {
    const commands = await browser.commands.getAll();
    return commands.find((command) => command.name === FILL_COMMAND)?.shortcut || null;
  } catch {
    return null;
  }
}
