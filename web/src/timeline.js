// The range of the history, for the slider: the earliest and latest `occurred_at` in the log.
//
// The read API has no route that states that range, so it is read from the audit log
// (/v1/events), scanning at most MAX_PAGES pages at first and then only what is new.
import { get } from "./api.js";

const MAX_PAGES = 20;
const MAX_TICKS = 400;
const DAY = 86_400_000;

/** The first day of an ISO 8601 period ("2017-07" -> "2017-07-01"). */
export function firstDay(occurredAt) {
  const m = /^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?/.exec(occurredAt ?? "");
  return m ? `${m[1]}-${m[2] ?? "01"}-${m[3] ?? "01"}` : null;
}

export const dayNumber = (date) => Math.round(Date.parse(`${date}T00:00:00Z`) / DAY);
export const dayText = (number) => new Date(number * DAY).toISOString().slice(0, 10);

export class HistoryRange {
  constructor() {
    this.first = null;
    this.last = null;
    this.after = 0;
    this.days = new Set(); // the days something happened on: ticks on the slider
  }

  /** Read the log after what was read before; true when the range grew. */
  async extend(pages = MAX_PAGES) {
    const before = [this.first, this.last].join();
    for (let n = 0; n < pages; n++) {
      const page = await get("/v1/events", { after: this.after, limit: 1000 });
      for (const event of page.body.items) {
        this.after = Math.max(this.after, event.position);
        this.include(event.occurred_at);
        this.include(event.data?.changes?.occurred_at);
      }
      if (!page.body.next_cursor) break;
    }
    return [this.first, this.last].join() !== before;
  }

  include(occurredAt) {
    const day = firstDay(occurredAt);
    if (!day) return;
    if (this.days.size < MAX_TICKS) this.days.add(day);
    if (!this.first || day < this.first) this.first = day;
    if (!this.last || day > this.last) this.last = day;
  }
}
