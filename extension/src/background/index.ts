/** The background entry: each feature lives in its own module and is wired here. */
import { installAutofill } from '../autofill/background';
import { registerClipboardClearing } from './clipboard-clearing';
import { registerCodeUseWatch } from './code-use-watch';
import { registerPrintHandoff } from './print-handoff';

registerClipboardClearing();
registerPrintHandoff();
const autofill = installAutofill();
// Every poll of /api/me also marks spent the kept codes the server reports used.
registerCodeUseWatch({ onMe: autofill.applyMe });
