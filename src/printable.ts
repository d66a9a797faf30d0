/**
 * Escapes for text that came from outside (Redis fields, event payloads)
 * before it reaches a terminal or a line-oriented reader: a control character
 * in a `host` field must not move the cursor, clear the screen or forge a row.
 */

/**
 * C0 and C1 controls, DEL, format characters (bidi overrides, zero-width),
 * line and paragraph separators, lone surrogates, private-use and unassigned
 * code points.
 */
const NON_PRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\p{Co}\p{Cn}]/gu;

/** Backslash and every non-printable character as `\xHH` / `\uHHHH` (backslash as `\\`, so the escape is unambiguous). */
export function printable(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(NON_PRINTABLE, (c) => {
    const code = c.codePointAt(0)!;
    if (code <= 0xff) return `\\x${code.toString(16).padStart(2, '0')}`;
    return code <= 0xffff ? `\\u${code.toString(16).padStart(4, '0')}` : `\\u{${code.toString(16)}}`;
  });
}

/**
 * JSON.stringify, with the characters it leaves raw (DEL, C1 controls,
 * U+2028/9, bidi and other format characters, lone surrogates) also written
 * as `\uXXXX`: still valid JSON that parses to the same value, and one line
 * that is safe on a terminal.
 */
export function jsonLine(value: unknown): string {
  // Per UTF-16 unit: a code point above U+FFFF becomes its surrogate pair, as JSON writes it.
  return JSON.stringify(value).replace(NON_PRINTABLE, (c) =>
    Array.from({ length: c.length }, (_, i) => `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`).join(''),
  );
}
