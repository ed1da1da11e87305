// Text for people: numbers, shares, dates and the short names of actors.
const shortNames = new Map(); // actor_id -> "SAA", from the actors' own aliases

export function learnShortNames(actors) {
  for (const actor of actors) {
    const short = [actor.name, ...actor.aliases].find((n) => /^[A-Z][A-Z-]{1,7}$/.test(n));
    shortNames.set(actor.actor_id, short ?? actor.name);
  }
}

export const shortName = (actorId, fallback) => shortNames.get(actorId) ?? fallback ?? actorId;

export const share = (value) => `${Number.isInteger(value) ? value : value.toFixed(2).replace(/0$/, "")}`;

export function population(value) {
  if (value === null || value === undefined) return "–";
  if (value >= 1e6) return `${(value / 1e6).toFixed(value >= 1e7 ? 0 : 2)} M`;
  if (value >= 1e4) return `${Math.round(value / 1e3)} k`;
  return value.toLocaleString("en");
}

/** "SAA 60 / IS 40" */
export function split(control) {
  return control.map((h) => `${shortName(h.actor_id, h.actor)} ${share(h.share)}`).join(" / ");
}

export function status(place) {
  return { controlled: "controlled", contested: "contested", partial: "partly held", unknown: "no holder known" }[
    place.status
  ];
}

export function escape(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** An ISO 8601 date at its precision: "2017", "Jul 2017", "8 Nov 2017", "8 Nov 2017 14:05 UTC". */
export function when(text) {
  if (!text) return "–";
  const m = /^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?(?:[T ](\d{2}):(\d{2}))?/.exec(text);
  if (!m) return text;
  const [, y, mo, d, hh, mm] = m;
  if (!mo) return y;
  const month = MONTHS[Number(mo) - 1];
  if (!d) return `${month} ${y}`;
  const day = `${Number(d)} ${month} ${y}`;
  return hh ? `${day} ${hh}:${mm} UTC` : day;
}
