/**
 * The certificate and key the server serves HTTPS with (TLS_CERT_FILE, TLS_KEY_FILE, and
 * TLS_KEY_PASSPHRASE(_FILE) for an encrypted key): read and checked at start, and read again on
 * SIGHUP, when a renewed pair replaces the one in use for new handshakes only (open connections keep
 * theirs). Every problem is one line naming the file or setting and why, never any key material.
 */
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { Config } from './config';
import { ConfigError } from './config';
import type { ProcessLogger } from './log';

type TlsSettings = NonNullable<Config['tls']>;

/** What `https.createServer` and `setSecureContext` take: the PEM files as read, and the passphrase. */
export interface TlsCredentials {
  cert: Buffer;
  key: Buffer;
  passphrase?: string;
}

/** What an operator checks of a certificate: public facts only. */
export interface CertificateFacts {
  subject: string;
  issuer: string;
  validFrom: string;
  validTo: string;
  fingerprint256: string;
}

/** A file system error by its code (ENOENT, EACCES), OpenSSL's by its message: neither holds key material. */
function reason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code && /^E[A-Z]+$/.test(code)) return code;
  return error instanceof Error ? error.message : String(error);
}

/** OpenSSL's `Dec  8 03:39:24 2026 GMT` as the log's other times are written. */
function isoTime(openssl: string): string {
  const time = new Date(openssl);
  return Number.isNaN(time.getTime()) ? openssl : time.toISOString();
}

function readSetting(name: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new ConfigError(`${name} ${file} cannot be read: ${reason(error)}.`);
  }
}

/** The first certificate of the file (the server's own; a chain's intermediates follow it). */
function certificateOf(tls: TlsSettings, cert: Buffer): X509Certificate {
  try {
    return new X509Certificate(cert);
  } catch (error) {
    throw new ConfigError(
      `TLS_CERT_FILE ${tls.certFile} does not hold a PEM certificate (${reason(error)}).`,
    );
  }
}

/** The private key, decrypted with the passphrase when it is encrypted. */
function privateKeyOf(tls: TlsSettings, key: Buffer): KeyObject {
  const encrypted = key.includes('ENCRYPTED');
  try {
    return createPrivateKey({ key, passphrase: tls.passphrase?.value });
  } catch (error) {
    if (encrypted && !tls.passphrase) {
      throw new ConfigError(
        `TLS_KEY_FILE ${tls.keyFile} is encrypted: give its passphrase in TLS_KEY_PASSPHRASE_FILE (or TLS_KEY_PASSPHRASE).`,
      );
    }
    if (encrypted && tls.passphrase) {
      throw new ConfigError(
        `${tls.passphrase.setting} does not decrypt TLS_KEY_FILE ${tls.keyFile} (${reason(error)}).`,
      );
    }
    throw new ConfigError(`TLS_KEY_FILE ${tls.keyFile} does not hold a PEM private key (${reason(error)}).`);
  }
}

/**
 * The certificate and key, read and checked now (readable, a certificate, a key the passphrase
 * opens, the certificate's own key, usable by OpenSSL): a bad file must not surface at the first
 * handshake, nor replace a good pair on reload.
 */
export function readTlsFiles(tls: TlsSettings): { credentials: TlsCredentials; facts: CertificateFacts } {
  const cert = readSetting('TLS_CERT_FILE', tls.certFile);
  const key = readSetting('TLS_KEY_FILE', tls.keyFile);
  const certificate = certificateOf(tls, cert);
  if (!certificate.checkPrivateKey(privateKeyOf(tls, key))) {
    throw new ConfigError(
      `TLS_CERT_FILE ${tls.certFile} and TLS_KEY_FILE ${tls.keyFile} do not match: the certificate is for another key.`,
    );
  }
  const credentials: TlsCredentials = {
    cert,
    key,
    ...(tls.passphrase ? { passphrase: tls.passphrase.value } : {}),
  };
  try {
    createSecureContext(credentials);
  } catch (error) {
    throw new ConfigError(
      `TLS_CERT_FILE and TLS_KEY_FILE do not hold a usable certificate and its private key: ${reason(error)}.`,
    );
  }
  const { subject, issuer, fingerprint256 } = certificate;
  const validFrom = isoTime(certificate.validFrom);
  const validTo = isoTime(certificate.validTo);
  return { credentials, facts: { subject, issuer, validFrom, validTo, fingerprint256 } };
}

/** The server's side of a reload: `https.Server` has it, a plain HTTP server does not. */
interface SecureContextHolder {
  setSecureContext(options: TlsCredentials): void;
}

/**
 * What SIGHUP does: read the files again and, if they hold a good pair, serve it to new handshakes;
 * otherwise keep the pair in use. Either way one log line says what happened. The files are read
 * synchronously, so two signals in a row cannot interleave.
 */
export function tlsReloader(
  server: SecureContextHolder | null,
  tls: Config['tls'],
  log: ProcessLogger,
): () => void {
  if (!server || !tls) {
    return () =>
      log.info('SIGHUP: nothing to reload', {
        reason: 'the server does not serve TLS itself (TLS_CERT_FILE and TLS_KEY_FILE are not set)',
      });
  }
  return () => {
    let read: ReturnType<typeof readTlsFiles>;
    try {
      read = readTlsFiles(tls);
      server.setSecureContext(read.credentials);
    } catch (error) {
      log.error('TLS certificate not reloaded: still serving the previous one', {
        error: error instanceof ConfigError ? error.message : reason(error),
      });
      return;
    }
    log.info('TLS certificate reloaded', { certFile: tls.certFile, ...read.facts });
  };
}
