/** A self-signed certificate for 127.0.0.1 and localhost, made with the openssl CLI, for TLS tests. */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export function makeCertificate(dir: string) {
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
