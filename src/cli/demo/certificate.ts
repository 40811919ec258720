import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';

/**
 * A self-signed certificate for the demo's HTTPS API, made at start with node's crypto: an
 * EC P-256 key and an X.509 v3 certificate for 127.0.0.1 and localhost, valid for a day.
 *
 * Node can make keys and sign but has no API to build a certificate, and the libraries that
 * do bring a dozen packages into every install of the agent; the DER below is the few fields
 * a TLS client checks, and the tests read it back with node's own X509Certificate.
 */
export interface Certificate {
  readonly key: string;
  readonly cert: string;
}

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
} as const;

export function selfSignedCertificate(commonName = 'poolscope demo', validHours = 24): Certificate {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const now = Date.now();
  const name = sequence(set(sequence(oid(OID.commonName), utf8(commonName))));
  const algorithm = sequence(oid(OID.ecdsaWithSha256));
  const subjectAltNames = sequence(
    tagged(0x87, Buffer.from([127, 0, 0, 1])), // iPAddress
    tagged(0x82, Buffer.from('localhost', 'ascii')), // dNSName
  );
  const tbs = sequence(
    tagged(0xa0, integer(Buffer.from([2]))), // version 3
    integer(serialNumber()),
    algorithm,
    name,
    sequence(utcTime(new Date(now - 60_000)), utcTime(new Date(now + validHours * 3_600_000))),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    tagged(0xa3, sequence(
      extension(OID.subjectAltName, subjectAltNames),
      extension(OID.basicConstraints, sequence()),
    )),
  );
  const signature = sign('sha256', tbs, { key: privateKey, dsaEncoding: 'der' });
  const der = sequence(tbs, algorithm, bitString(signature));
  return { key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, cert: pem('CERTIFICATE', der) };
}

function pem(label: string, der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** A positive 16-byte serial, as RFC 5280 asks (at most 20 bytes, never negative). */
function serialNumber(): Buffer {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return bytes;
}

function tagged(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), length(content.length), content]);
}

function length(size: number): Buffer {
  if (size < 0x80) return Buffer.from([size]);
  const bytes: number[] = [];
  for (let rest = size; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function sequence(...items: Buffer[]): Buffer {
  return tagged(0x30, Buffer.concat(items));
}

function set(...items: Buffer[]): Buffer {
  return tagged(0x31, Buffer.concat(items));
}

function integer(bytes: Buffer): Buffer {
  return tagged(0x02, bytes);
}

function utf8(text: string): Buffer {
  return tagged(0x0c, Buffer.from(text, 'utf8'));
}

function bitString(bytes: Buffer): Buffer {
  return tagged(0x03, Buffer.concat([Buffer.from([0]), bytes]));
}

function utcTime(date: Date): Buffer {
  const text = date.toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z'; // YYMMDDHHMMSSZ
  return tagged(0x17, Buffer.from(text, 'ascii'));
}

function extension(id: string, value: Buffer): Buffer {
  return sequence(oid(id), tagged(0x04, value));
}

function oid(dotted: string): Buffer {
  const [first = 0, second = 0, ...rest] = dotted.split('.').map(Number);
  const bytes = [first * 40 + second];
  for (const arc of rest) {
    const base128 = [arc & 0x7f];
    for (let value = arc >>> 7; value > 0; value >>>= 7) base128.unshift(0x80 | (value & 0x7f));
    bytes.push(...base128);
  }
  return tagged(0x06, Buffer.from(bytes));
}
