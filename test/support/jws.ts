/** Checks a token as a relying party would, with node's crypto alone (no library's key cache). */
import { createPublicKey, type JsonWebKeyInput, verify } from 'node:crypto';

/** RS256 signature of a compact JWS checked against the JWKS entry of its kid. */
export function verifiesAgainst(jws: string, keys: { kid: string }[]): boolean {
  const [header, payload, signature] = jws.split('.') as [string, string, string];
  const { kid, alg } = JSON.parse(Buffer.from(header, 'base64url').toString());
  const jwk = keys.find((key) => key.kid === kid);
  if (!jwk || alg !== 'RS256') return false;
  return verify(
    'sha256',
    Buffer.from(`${header}.${payload}`),
    createPublicKey({ key: jwk as JsonWebKeyInput['key'], format: 'jwk' }),
    Buffer.from(signature, 'base64url'),
  );
}

/** The kid in a compact JWS's header. */
export const kidOf = (jws: string) =>
  JSON.parse(Buffer.from(jws.split('.')[0] as string, 'base64url').toString()).kid as string;
