/**
 * Well-formedness of generated HTML and SVG. These files never run in the sandbox: the dashboard
 * shows them only in a sandboxed iframe under a restrictive CSP. The check is a diagnostic for the
 * implementer ("unclosed <g> at 4:3"), not a security control.
 */
import { XMLValidator } from 'fast-xml-parser';
import { parse, parseFragment } from 'parse5';
import type { ParserError } from 'parse5';
import type { Location } from './_modules.ts';

export type MarkupCheck = { ok: true } | { ok: false; message: string; location: Location };

/** HTML parse errors that browsers and authors treat as style, not breakage. */
const HTML_TOLERATED = new Set(['missing-doctype', 'non-void-html-element-start-tag-with-trailing-solidus']);

export function isMarkup(path: string): boolean {
  return /\.(html?|svg|xml)$/i.test(path);
}

function xmlCheck(path: string, text: string): MarkupCheck {
  const result = XMLValidator.validate(text, { allowBooleanAttributes: false });
  if (result === true) return { ok: true };
  const { msg, line, col } = result.err;
  const location = { file: path, line, column: col };
  return { ok: false, message: `${path} is not well-formed XML: ${msg} (at ${path}:${line}:${col})`, location };
}

function htmlCheck(path: string, text: string): MarkupCheck {
  const errors: ParserError[] = [];
  const onParseError = (error: ParserError) => {
    if (!HTML_TOLERATED.has(error.code)) errors.push(error);
  };
  // A page (doctype or <html>) is parsed as a document; anything else as a body fragment.
  if (/^\s*(<!--[\s\S]*?-->\s*)*<(!doctype|html)/i.test(text)) parse(text, { onParseError });
  else parseFragment(text, { onParseError });
  const first = errors[0];
  if (first === undefined) return { ok: true };
  const location = { file: path, line: first.startLine, column: first.startCol };
  const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : '';
  return { ok: false, message: `${path} is not well-formed HTML: ${first.code}${more} (at ${path}:${location.line}:${location.column})`, location };
}

/** Checks one HTML (.html, .htm) or XML/SVG (.svg, .xml) file; other extensions pass. */
export function markupProblem(path: string, text: string): MarkupCheck {
  if (/\.(svg|xml)$/i.test(path)) {
    const xml = xmlCheck(path, text);
    if (!xml.ok || !/\.svg$/i.test(path)) return xml;
    if (!/<svg[\s>]/.test(text)) {
      return { ok: false, message: `${path} has no <svg> root element`, location: { file: path, line: 1, column: 1 } };
    }
    return xml;
  }
  if (/\.html?$/i.test(path)) return htmlCheck(path, text);
  return { ok: true };
}
