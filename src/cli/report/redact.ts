/** Header names whose values are credentials however short. */
const SECRET_NAME = /auth|token|key|secret|pass|cookie|session/i;
/** Shorter values of other headers (a tenant id of `1`) would blank out unrelated text. */
const MIN_LENGTH = 4;

/**
 * A function that blanks out, in text about to be printed, every header value the report sends
 * and the credential of a `Scheme credential` value (the token of `Bearer TOKEN`), wherever a
 * server's answer or an error may have echoed them.
 */
export function redactor(headers: Readonly<Record<string, string>>): (text: string) => string {
  const secrets = new Set<string>();
  for (const [name, value] of Object.entries(headers)) {
    for (const candidate of [value.trim(), value.trim().split(/\s+/).at(-1) ?? '']) {
      if (candidate.length >= MIN_LENGTH || (candidate !== '' && SECRET_NAME.test(name))) secrets.add(candidate);
    }
  }
  // Longest first, so a whole value goes before the token inside it.
  const ordered = [...secrets].sort((a, b) => b.length - a.length);
  return (text) => ordered.reduce((redacted, secret) => redacted.replaceAll(secret, '[redacted]'), text);
}
