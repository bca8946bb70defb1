import { html } from 'lit';
import type { TemplateResult } from 'lit';

const KEYWORDS = new Set(
  'as async await break case catch class const continue debugger default delete do else export extends false finally for from function if import in instanceof interface let new null of return static super switch this throw true try type typeof undefined var void while with yield'.split(' '),
);
// Comments, strings (incl. template literals), numbers, words, tags/attributes for markup.
const TOKEN = /(\/\/[^\n]*|\/\*[\s\S]*?\*\/|<!--[\s\S]*?-->)|("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`(?:[^`\\]|\\.)*`)|(\b\d[\d_]*(?:\.\d+)?(?:e[+-]?\d+)?\b)|([A-Za-z_$][\w$]*)|(<\/?[A-Za-z][\w:-]*|\/?>)/g;

/**
 * A small highlighter for the languages the agents write (JS/TS, JSON, HTML/SVG, CSS): comments,
 * strings, numbers, keywords and tags as spans. Text stays text: Lit escapes every piece.
 */
export function highlight(source: string): TemplateResult {
  const parts: Array<TemplateResult | string> = [];
  let last = 0;
  for (const match of source.matchAll(TOKEN)) {
    const index = match.index ?? 0;
    if (index > last) parts.push(source.slice(last, index));
    const [text, comment, string, number, word, tag] = match;
    if (comment) parts.push(html`<span class="tok-comment">${text}</span>`);
    else if (string) parts.push(html`<span class="tok-string">${text}</span>`);
    else if (number) parts.push(html`<span class="tok-number">${text}</span>`);
    else if (word) parts.push(KEYWORDS.has(word) ? html`<span class="tok-keyword">${text}</span>` : text);
    else if (tag) parts.push(html`<span class="tok-tag">${text}</span>`);
    else parts.push(text);
    last = index + text.length;
  }
  if (last < source.length) parts.push(source.slice(last));
  return html`${parts}`;
}
