/** The background entry: each feature lives in its own module and is wired here. */
import { registerClipboardClearing } from './clipboard-clearing';
import { registerCodeUseWatch } from './code-use-watch';
import { registerPrintHandoff } from './print-handoff';

registerClipboardClearing();
registerPrintHandoff();
registerCodeUseWatch();
