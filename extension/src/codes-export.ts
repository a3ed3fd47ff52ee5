/** What leaves the popup with the codes: the clipboard text and the downloaded file. */
import { t } from './i18n';

export interface ExportedCodes {
  serverUrl: string;
  username: string;
  generatedAt: string;
  codes: { number: number; code: string }[];
}

/** The clipboard gets the codes alone, one per line, so they paste cleanly into a password manager. */
export function clipboardText(codes: ExportedCodes['codes']): string {
  return codes.map(({ code }) => code).join('\n');
}

function localDate(iso: string): string {
  const date = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/** Only characters every file system accepts, so the name survives any download folder. */
function safe(part: string): string {
  return part.replace(/[^A-Za-z0-9._-]+/g, '_');
}

export function downloadFileName({ serverUrl, username, generatedAt }: ExportedCodes): string {
  const host = new URL(serverUrl).host.replace(':', '_');
  return `sparekey-backup-codes-${safe(host)}-${safe(username)}-${localDate(generatedAt)}.txt`;
}

export function downloadText(exported: ExportedCodes): string {
  const host = new URL(exported.serverUrl).host;
  const width = String(exported.codes.length).length;
  return [
    t('fileTitle', exported.username, host, localDate(exported.generatedAt)),
    t('fileHowTo'),
    '',
    ...exported.codes.map(({ number, code }) => `${String(number).padStart(width, ' ')}. ${code}`),
    '',
  ].join('\n');
}

/** Saves through an <a download> click: no "downloads" permission needed, nothing leaves the machine. */
export function saveTextFile(name: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: 'text/plain;charset=utf-8' }));
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  // The browser reads the blob asynchronously; revoking at once can cancel the download.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
