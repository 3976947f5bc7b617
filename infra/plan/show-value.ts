import { isRecord } from './cfn-template.js';
import type { Canonical } from './intrinsics.js';

/** Properties whose values are never printed: a template may carry a secret literally (`SecretString`, `Passwords`, `AuthToken`). */
const SECRET_PROPERTY = /^(SecretString|SecretValue|SecretBinary|AuthToken|PrivateKey|.*Passwords?|.*Token)$/i;
const MAX_LENGTH = 60;

/**
 * A short, readable form of a canonical value for the table and JSON: `Ref X`, `X.Attr`, `(new X)`,
 * `(?)`; literals as JSON; long values cut. Values under a secret-looking property name are hidden.
 */
export function showValue(path: readonly (string | number)[], value: Canonical | undefined): string {
  if (value === undefined) return '(none)';
  const name = path.filter((step): step is string => typeof step === 'string').at(-1);
  if ((name !== undefined && SECRET_PROPERTY.test(name)) || hasSecretKey(value)) return '(value hidden)';
  const text = render(value);
  return text.length > MAX_LENGTH ? `${text.slice(0, MAX_LENGTH - 1)}…` : text;
}

/** Whether an object value holds a secret-looking key anywhere (a whole `AuthenticationMode` changing, say). */
function hasSecretKey(value: Canonical): boolean {
  if (Array.isArray(value)) return value.some(hasSecretKey);
  if (!isRecord(value)) return false;
  return Object.entries(value).some(([key, item]) => (!key.startsWith('$') && SECRET_PROPERTY.test(key)) || hasSecretKey(item as Canonical));
}

function render(value: Canonical): string {
  if (Array.isArray(value)) return `[${value.map(render).join(', ')}]`;
  if (!isRecord(value)) return JSON.stringify(value);
  if (typeof value.$ref === 'string') return `Ref ${value.$ref}`;
  if (typeof value.$att === 'string') return value.$att;
  if (typeof value.$new === 'string') return `(new ${value.$new})`;
  if (typeof value.$unknown === 'string') return '(?)';
  if (Array.isArray(value.$join)) return (value.$join as Canonical[]).map((part) => (typeof part === 'string' ? part : `\${${render(part)}}`)).join('');
  if (typeof value.$fn === 'string') return `${value.$fn}(…)`;
  return `{${Object.entries(value).map(([k, v]) => `${k}: ${render(v as Canonical)}`).join(', ')}}`;
}
