/** A throwaway self-signed certificate for localhost and 127.0.0.1, made with the openssl CLI. */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export function makeCertificate(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
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
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
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
  return { cert, key };
}
