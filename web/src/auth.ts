import { useSyncExternalStore } from 'react';

/**
 * The caller's bearer token (the API's authentication today: `gongche users add` prints one). It is kept in
 * sessionStorage, so it lasts as long as the browser tab and is never written to disk by the console.
 */
export const TOKEN_KEY = 'gongche.token';

const listeners = new Set<() => void>();

function read(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

/** A token as pasted: surrounding blanks and a leading "Bearer " dropped; null when nothing is left. */
export function cleanToken(pasted: string): string | null {
  const token = pasted.trim().replace(/^bearer\s+/i, '').trim();
  return token === '' ? null : token;
}

export function getToken(): string | null {
  return read();
}

export function setToken(token: string | null): void {
  try {
    if (token === null) sessionStorage.removeItem(TOKEN_KEY);
    else sessionStorage.setItem(TOKEN_KEY, token);
  } catch {
    // storage refused: nothing to keep
  }
  for (const listener of listeners) listener();
}

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function useToken(): string | null {
  return useSyncExternalStore(subscribe, read, () => null);
}
