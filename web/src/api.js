// The read API, from the page's own origin: ETag revalidation, the read key, and paging.
import { askForKey, currentKey, forgetKey } from "./keyform.js";

const answers = new Map(); // url -> { etag, body, generation }, oldest first
const KEPT = 300;
let reached = 0; // the latest log position the page has heard of: reads are at least that fresh

/**
 * Every later read waits (server-side, `min_position`) until the read models reach `position`:
 * having heard of a change from the stream, the page must not be answered from before it.
 */
export function atLeast(position) {
  if (Number.isFinite(position)) reached = Math.max(reached, position);
}

/** The read model generation inside one of this API's ETags ("g1.p42.…"), or null. */
export function generationOf(etag) {
  const found = /^(?:W\/)?"g(\d+)\./.exec(etag || "");
  return found ? Number(found[1]) : null;
}

export function url(path, params = {}) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") query.set(name, String(value));
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

/**
 * GET a read route. Answers are kept by URL and revalidated with If-None-Match, so an unchanged
 * answer costs a 304. Resolves to { body, changed, position, generation }; a 401 asks for a key.
 */
export async function get(path, params = {}) {
  const target = url(path, params);
  for (;;) {
    const kept = answers.get(target);
    const asked = reached ? url(path, { ...params, min_position: reached }) : target;
    const headers = { Accept: "application/json" };
    if (kept) headers["If-None-Match"] = kept.etag;
    const key = currentKey();
    if (key) headers.Authorization = `Bearer ${key}`;
    const response = await fetch(asked, { headers, cache: "no-store" });
    if (response.status === 401) {
      if (key) forgetKey();
      await askForKey(key ? "That key was not accepted." : "");
      continue;
    }
    const position = Number(response.headers.get("X-Projection-Position") ?? NaN);
    if (response.status === 304 && kept) {
      return { body: kept.body, changed: false, position, generation: kept.generation };
    }
    if (response.status === 404) return { body: null, changed: true, position, generation: null };
    if (!response.ok) throw new Error(`${target}: ${response.status} ${response.statusText}`);
    const body = await response.json();
    const etag = response.headers.get("ETag");
    const generation = generationOf(etag);
    if (etag) remember(target, { etag, body, generation });
    return { body, changed: true, position, generation };
  }
}

function remember(target, answer) {
  answers.delete(target);
  answers.set(target, answer);
  if (answers.size > KEPT) answers.delete(answers.keys().next().value);
}

/** Every item of a paged list (`items` and `next_cursor`), following the cursor. */
export async function all(path, params = {}) {
  const items = [];
  let cursor = null;
  let changed = false;
  let position = NaN;
  do {
    const page = await get(path, { ...params, limit: 1000, cursor });
    items.push(...(page.body.items ?? page.body.features));
    changed ||= page.changed;
    position = page.position;
    cursor = page.body.next_cursor ?? null;
  } while (cursor);
  return { items, changed, position };
}
