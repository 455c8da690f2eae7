/**
 * A list paged on the server (`limit`/`offset`), its page, page size and filters named by the address
 * (`?page=2&size=50&status=sealed`) so that a link opens the same view: what a link may say, and what it means when
 * it says something else.
 */

/** A vocabulary's code (`sealed`, `law_enforcement`) as a filter in an address may name one; other text is dropped. */
export function isCode(value: string | null): value is string {
  return value !== null && /^[a-z][a-z_]*$/.test(value);
}

export const PAGE_SIZES = [10, 20, 50, 100];
export const DEFAULT_SIZE = 20;
/** The last page a link may name: beyond it the offset would pass what the API takes (10^9 rows). */
const LAST_PAGE = 1_000_000;

/** The page an address names, from 1: the first for none or nonsense, the last the API can serve past that. */
export function pageOf(params: URLSearchParams): number {
  return Math.min(LAST_PAGE, Math.max(1, Math.floor(Number(params.get('page'))) || 1));
}

/** The page size an address names, one of `PAGE_SIZES`; the default otherwise. */
export function sizeOf(params: URLSearchParams): number {
  const size = Number(params.get('size'));
  return PAGE_SIZES.includes(size) ? size : DEFAULT_SIZE;
}
