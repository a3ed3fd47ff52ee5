/**
 * The content script, registered at run time for the configured server's MFA step only
 * (autofill/registration.ts). Bundled as one classic script: everything below is inlined by the build.
 */
import browser, { type Runtime } from 'webextension-polyfill';
import { startAutofill } from '../autofill/content';
import { isTriggerRequest } from '../autofill/messages';
import { translator } from '../autofill/text';
import { isFromExtensionPage } from '../messages';
import { savedServerUrl } from '../server-url';

async function main(): Promise<void> {
  // Firefox's match patterns cannot carry the port: startAutofill checks the exact origin and path.
  const serverUrl = await savedServerUrl();
  if (!serverUrl) return;
  const autofill = startAutofill(document, {
    serverUrl,
    send: (request) => browser.runtime.sendMessage(request),
    text: translator((key, substitutions) => browser.i18n.getMessage(key, substitutions)),
  });

  browser.runtime.onMessage.addListener((message: unknown, sender: Runtime.MessageSender) => {
    // Only the extension's own pages and background may ask for a fill, told apart by URL: Firefox gives
    // an extension page shown in a tab (Firefox for Android's popup) a sender.tab, as for a content script.
    if (!isTriggerRequest(message) || !isFromExtensionPage(sender)) return undefined;
    return autofill.trigger();
  });
}

void main();
