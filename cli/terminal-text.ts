/**
 * Characters a terminal acts on instead of showing: C0 controls (ESC opens an ANSI sequence, CR
 * rewrites a line), DEL, C1 controls (U+009B is a one-character CSI), and the Unicode format
 * characters that reorder or hide text (bidi marks, embeddings, overrides and isolates, zero-width
 * and invisible characters, variation selectors, interlinear annotation, the line and paragraph
 * separators, the BOM, and the tag characters).
 */
const FORMAT = '\\u00ad\\u061c\\u180e\\u200b-\\u200f\\u2028-\\u202e\\u2060-\\u2069\\u3164\\ufe00-\\ufe0f\\ufeff\\ufff9-\\ufffb';
/** Unicode's tag characters (U+E0000–U+E007F, invisible: text smuggled past a reader), as UTF-16 pairs. */
const TAGS = '\\udb40[\\udc00-\\udc7f]';
const UNSAFE_CHARACTER = new RegExp(`[\\u0000-\\u001f\\u007f-\\u009f${FORMAT}]|${TAGS}`, 'g');
/** The same but a line break (U+000A), which stays one: what a stream of lines may hold. */
const UNSAFE_IN_LINES = new RegExp(`[\\u0000-\\u0009\\u000b-\\u001f\\u007f-\\u009f${FORMAT}]|${TAGS}`, 'g');
/** The escapes the CLI itself writes on a terminal: `--watch`'s clear-screen (only first), the colors of `paint`. */
const CLEAR_SCREEN = /^\u001b\[2J\u001b\[H/g;
const COLORS = /\u001b\[(?:0|1|2|31|32|33)m/g;
const CLEAR_SCREEN_OR_COLORS = new RegExp(`${CLEAR_SCREEN.source}|${COLORS.source}`, 'g');

/** `\uXXXX`: a JSON escape too, so that JSON output stays valid JSON with the same meaning. */
const escape = (match: string) => match.split('').map((unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');

/**
 * Text from Redis or AWS made safe for a terminal: control and format characters (an ANSI escape in
 * a forged heartbeat's host name, a line break in a key, a bidi override) are shown as escapes,
 * never interpreted. Line breaks too, unlike {@link terminalSafe}: every such value interpolated into
 * a sentence (a kid, an endpoint, a refused ring's reason), not only a table cell, goes through this,
 * so that it stays on its sentence's line; a kid holding "\n" and a command line would otherwise
 * print a line of its own that reads like one of the CLI's hints.
 */
export function printable(text: string): string {
  return text.replace(UNSAFE_CHARACTER, escape);
}

/**
 * What the CLI writes to a stream: every control and format character escaped as in {@link
 * printable} except line breaks, and except the CLI's own color and clear-screen sequences when
 * they are allowed (on a terminal). A second net, not the escaping of values: the CLI's tables,
 * help and verdicts span lines, so a line break is kept here, and a value from Redis or AWS must
 * have been made {@link printable} where it was put into a table cell (renderTable does) or a
 * sentence (a kid, an endpoint, a refused ring's reason). In JSON output it escapes what
 * `JSON.stringify` leaves raw (C1 and format characters, only ever inside strings).
 */
export function terminalSafe(text: string, allowed: { readonly colors: boolean; readonly clearScreen: boolean }): string {
  const own = allowed.colors ? (allowed.clearScreen ? CLEAR_SCREEN_OR_COLORS : COLORS) : allowed.clearScreen ? CLEAR_SCREEN : undefined;
  if (!own) return text.replace(UNSAFE_IN_LINES, escape);
  let safe = '';
  let from = 0;
  for (const match of text.matchAll(own)) {
    safe += text.slice(from, match.index).replace(UNSAFE_IN_LINES, escape) + match[0];
    from = match.index + match[0].length;
  }
  return safe + text.slice(from).replace(UNSAFE_IN_LINES, escape);
}
