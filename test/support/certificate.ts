/** A throwaway self-signed certificate for localhost and 127.0.0.1, made with the openssl CLI. */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CertificateOptions {
  /** The subject's common name (CN), to tell certificates apart; `localhost` by default. */
  name?: string;
  /** Encrypt the key with the passphrase in this file (`openssl -passout file:`); unencrypted by default. */
  passphraseFile?: string;
  /** File names in `dir`; cert.pem and key.pem by default. */
  certName?: string;
  keyName?: string;
}

export function makeCertificate(
  dir: string,
  options: CertificateOptions = {},
): { cert: string; key: string; fingerprint256: string } {
  const cert = join(dir, options.certName ?? 'cert.pem');
  const key = join(dir, options.keyName ?? 'key.pem');
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        ...(options.passphraseFile ? ['-passout', `file:${options.passphraseFile}`] : ['-nodes']),
        '-days',
        '1',
        '-subj',
        `/CN=${options.name ?? 'localhost'}`,
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { stdio: 'pipe' },
    );
  } catch (error) {
    throw new Error(`This test makes a certificate with the openssl CLI: apt-get install openssl (${error})`);
  }
  return { cert, key, fingerprint256: new X509Certificate(readFileSync(cert)).fingerprint256 };
}
