import type { Language } from './i18n';

/**
 * The server's sentences in the other language. The API answers a refusal's `detail` in the language the request
 * asked for, as text only; a refusal shown before the user switched languages is put into the new one here, from the
 * server's own message catalog (fleet/locales/zh_CN/LC_MESSAGES/gongche.po, bundled by serverCatalog.ts): the text
 * is matched against the templates of the language it is in, its parameters read back (and put into the other
 * language themselves where they are messages too), and the other language's template filled with them. This is
 * what the server does itself for sentences it stored as English (fleet/i18n.py `parsed`).
 */

/** One message of the catalog: its English template (the msgid) and its Chinese one (the msgstr). */
export interface CatalogEntry {
  en: string;
  zh: string;
}

/** The catalog's messages, less the header and the entries that are not (or no longer) translated (fuzzy). */
export function parsePo(text: string): CatalogEntry[] {
  const entries: CatalogEntry[] = [];
  let fuzzy = false;
  let id: string | null = null;
  let str: string | null = null;
  let field: 'id' | 'str' | null = null;

  const flush = () => {
    if (id && str && !fuzzy) entries.push({ en: id, zh: str });
    fuzzy = false;
    id = null;
    str = null;
    field = null;
  };

  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '') {
      flush();
    } else if (line.startsWith('#')) {
      if (field !== null) flush(); // a comment opens the next entry
      if (line.startsWith('#,') && /\bfuzzy\b/.test(line)) fuzzy = true;
    } else if (line.startsWith('msgid ')) {
      if (field !== null) flush();
      id = unquote(line.slice('msgid '.length));
      field = 'id';
    } else if (line.startsWith('msgstr ')) {
      str = unquote(line.slice('msgstr '.length));
      field = 'str';
    } else if (line.startsWith('"')) {
      if (field === 'id' && id !== null) id += unquote(line);
      else if (field === 'str' && str !== null) str += unquote(line);
    }
    // msgctxt and plural forms: the catalog has none (`msg` makes neither)
  }
  flush();
  return entries;
}

const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\' };

function unquote(quoted: string): string {
  const inner = quoted.trim().replace(/^"/, '').replace(/"$/, '');
  return inner.replace(/\\(.)/g, (_, c: string) => ESCAPES[c] ?? c);
}

/** `{name}`, `{name:.1f}`, and the `{{` `}}` that stand for braces (Python's `str.format`). */
const TOKEN = /\{\{|\}\}|\{(\w+)(?::[^{}]*)?\}/g;

interface Template {
  text: string;
  pattern: RegExp;
  /** The parameters' names, in the order their first place in the template captures them. */
  names: string[];
  /**
   * Letters and digits outside the parameters: the more, the surer a match. A template of parameters and
   * punctuation alone (`{first}, {second}`, `{weekday} {moment}`) has none: it would match almost any text.
   */
  words: number;
}

function compile(text: string): Template {
  const names: string[] = [];
  let source = '';
  let words = 0;
  let last = 0;
  for (const token of text.matchAll(TOKEN)) {
    const before = text.slice(last, token.index);
    source += escapeRegExp(before);
    words += wordCount(before);
    const name = token[1];
    if (name === undefined) {
      source += escapeRegExp(token[0][0] ?? '');
    } else if (names.includes(name)) {
      source += `\\${names.indexOf(name) + 1}`; // the same parameter twice is the same text twice
    } else {
      names.push(name);
      source += '(.+?)';
    }
    last = token.index + token[0].length;
  }
  const rest = text.slice(last);
  source += escapeRegExp(rest);
  words += wordCount(rest);
  return { text, pattern: new RegExp(`^${source}$`, 's'), names, words };
}

function wordCount(text: string): number {
  return text.match(/[\p{L}\p{N}]/gu)?.length ?? 0;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function fill(template: string, params: ReadonlyMap<string, string>): string | null {
  let missing = false;
  const filled = template.replace(TOKEN, (token: string, name: string | undefined) => {
    if (name === undefined) return token[0] ?? '';
    const value = params.get(name);
    if (value === undefined) missing = true;
    return value ?? token;
  });
  return missing ? null : filled;
}

/** In Chinese the server writes a code of the registry with its label beside it: `cancelled（已取消）`. */
const LABELLED_CODE = /^([a-z][a-z0-9_]*)（[^（）]+）$/;
const CODE = /^[a-z][a-z0-9_]*$/;
/** Deep enough for a field's label inside a reason inside a refusal; a bound all the same. */
const MAX_DEPTH = 6;

/** The Chinese label of a registry code (`cancelled` -> 已取消), where known. */
export type CodeLabel = (code: string) => string | null;

export class ServerMessages {
  private readonly templates: Record<Language, Template[]>;
  private readonly pairs: Map<Template, Template>;

  constructor(entries: readonly CatalogEntry[]) {
    this.templates = { en: [], 'zh-CN': [] };
    this.pairs = new Map();
    for (const entry of entries) {
      const en = compile(entry.en);
      const zh = compile(entry.zh);
      if (en.words === 0 || zh.words === 0) continue;
      this.templates.en.push(en);
      this.templates['zh-CN'].push(zh);
      this.pairs.set(en, zh);
      this.pairs.set(zh, en);
    }
    // The most specific template first: the first that matches is taken.
    for (const list of Object.values(this.templates)) list.sort((a, b) => b.words - a.words);
  }

  /** `text` (a sentence of the server in `from`) in `to`; null when no message of the catalog renders it. */
  translate(text: string, from: Language, to: Language, codeLabel: CodeLabel = () => null): string | null {
    if (from === to) return text;
    return this.sentence(text, from, to, codeLabel, 0);
  }

  private sentence(text: string, from: Language, to: Language, codeLabel: CodeLabel, depth: number): string | null {
    if (depth > MAX_DEPTH) return null;
    for (const source of this.templates[from]) {
      const found = source.pattern.exec(text);
      if (found === null) continue;
      const target = this.pairs.get(source);
      if (target === undefined) continue;
      const params = new Map<string, string>();
      source.names.forEach((name, index) => {
        params.set(name, this.parameter(found[index + 1] ?? '', from, to, codeLabel, depth + 1));
      });
      const filled = fill(target.text, params);
      if (filled !== null) return filled;
    }
    return null;
  }

  /** A parameter: a message itself (a field's label, a reason), a registry code, or anything else as it is. */
  private parameter(value: string, from: Language, to: Language, codeLabel: CodeLabel, depth: number): string {
    if (to === 'en') {
      const code = LABELLED_CODE.exec(value);
      if (code?.[1]) return code[1];
    }
    const said = this.sentence(value, from, to, codeLabel, depth);
    if (said !== null) return said;
    if (to === 'zh-CN' && CODE.test(value)) {
      const zh = codeLabel(value);
      if (zh) return `${value}（${zh}）`;
    }
    return value;
  }
}
