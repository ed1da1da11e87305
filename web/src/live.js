// Following the read models as they move: the one place that knows how the page hears of changes.
//
// Polls `GET /v1/changes?after=POSITION` about once a second with If-None-Match (an unchanged
// model costs a 304). When the API's push stream (`GET /v1/stream`, Server-Sent Events) exists,
// an EventSource-based `follow` with the same callbacks replaces this function: a `place` event
// is onChange, its `id:` the position, a `replay` event onReplay. (EventSource cannot send an
// Authorization header, so with read keys that version would read the stream with fetch.)
import { get } from "./api.js";

const INTERVAL_MS = 1000;

/**
 * Calls onPosition(position) after every poll, onChange(places) when place states changed after
 * `after`, onReplay(generation) when a replay swapped the read models in, onError(error) when
 * the API cannot be reached (polling goes on). Returns { stop }.
 */
export function follow({ after, onChange, onReplay, onPosition, onError }) {
  let position = after;
  let generation = null;
  let timer = null;
  let stopped = false;

  async function poll() {
    try {
      let cursor = null;
      const changed = [];
      do {
        const page = await get("/v1/changes", { after: position, cursor, limit: 1000 });
        if (page.generation !== null) {
          if (generation !== null && page.generation !== generation) {
            generation = page.generation;
            onReplay(generation);
          }
          generation = page.generation;
        }
        if (page.changed) changed.push(...page.body.items);
        cursor = page.body.next_cursor;
        if (!cursor && Number.isFinite(page.position)) position = Math.max(position, page.position);
      } while (cursor);
      if (changed.length) onChange(changed);
      onPosition(position);
    } catch (error) {
      onError(error);
    }
    if (!stopped) timer = setTimeout(poll, INTERVAL_MS);
  }

  timer = setTimeout(poll, 0);
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
