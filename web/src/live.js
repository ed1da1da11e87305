// Following the read models as they move: the one place that knows how the page hears of changes.
//
// Reads the push stream, `GET /v1/stream?after=POSITION` (Server-Sent Events): a `place` event
// per changed place state (its `id:` the log position), a `replay` event when a replay swapped
// the read models in. It is read with fetch rather than EventSource, because EventSource cannot
// send the Authorization header a read key needs. When the stream drops, it reconnects after a
// second from the last position it got, so nothing is lost and nothing comes twice.
import { atLeast } from "./api.js";
import { currentKey } from "./keyform.js";

const RETRY_MS = 1000;

/**
 * Calls onChange(places) when place states changed after `after`, onPosition(position) as the
 * read model moves, onReplay(generation) when a replay swapped the read models in, onError(error)
 * when the stream cannot be read (it reconnects). Returns { stop }.
 */
export function follow({ after, onChange, onReplay, onPosition, onError }) {
  let position = after;
  let stopped = false;
  let controller = null;

  function handle(frame) {
    if (frame.event === "place") {
      position = Math.max(position, Number(frame.id));
      return JSON.parse(frame.data);
    }
    if (frame.event === "replay") onReplay(JSON.parse(frame.data).generation);
    return null;
  }

  async function read() {
    controller = new AbortController();
    const headers = { Accept: "text/event-stream" };
    const key = currentKey();
    if (key) headers.Authorization = `Bearer ${key}`;
    const response = await fetch(`/v1/stream?after=${position}`, { headers, signal: controller.signal });
    if (!response.ok || !response.body) throw new Error(`/v1/stream: ${response.status}`);
    onPosition(position);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let pending = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      pending += value.replaceAll("\r\n", "\n");
      const frames = pending.split("\n\n");
      pending = frames.pop();
      const places = frames.map(parse).map(handle).filter((place) => place !== null);
      if (places.length) {
        atLeast(position);
        onChange(places);
        onPosition(position);
      }
    }
  }

  async function run() {
    while (!stopped) {
      try {
        await read();
      } catch (error) {
        if (stopped) return;
        onError(error);
      }
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    }
  }

  run();
  return {
    stop() {
      stopped = true;
      controller?.abort();
    },
  };
}

/** One Server-Sent Event's fields (comment lines, the heartbeats, are skipped). */
function parse(text) {
  const frame = { event: "message", id: null, data: "" };
  for (const line of text.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "data") frame.data += (frame.data ? "\n" : "") + value;
    else if (field === "event" || field === "id") frame[field] = value;
  }
  return frame;
}
