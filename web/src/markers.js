// A place's marker: a disc in its holder's colour, or a pie of the split when several hold it.
import { colourOf, UNATTRIBUTED } from "./colours.js";

const MIN_RADIUS = 7;
const MAX_RADIUS = 24;
const LARGE_CITY = 2_000_000;
const CONTESTED_RADIUS = 13;

/** Area grows with population (radius with its square root), clamped so every place is visible. */
export function radiusFor(population, contested = false) {
  const scaled = MIN_RADIUS + (MAX_RADIUS - MIN_RADIUS) * Math.sqrt((population ?? 0) / LARGE_CITY);
  // A contested place is drawn large enough for its split to be read, whatever its size.
  return Math.round(Math.min(MAX_RADIUS, Math.max(contested ? CONTESTED_RADIUS : 0, scaled)) * 10) / 10;
}

/** The slices of the disc, share-descending, with the unattributed rest last. */
export function slices(control) {
  const parts = control.map((h) => ({ colour: colourOf(h.actor_id), share: h.share }));
  const held = parts.reduce((sum, p) => sum + p.share, 0);
  if (held < 99.995) parts.push({ colour: UNATTRIBUTED, share: 100 - held });
  return parts;
}

function point(r, fraction) {
  const angle = 2 * Math.PI * fraction - Math.PI / 2; // clockwise from twelve o'clock
  return [r + r * Math.cos(angle), r + r * Math.sin(angle)].map((v) => v.toFixed(2));
}

function sliceSvg(r, start, share, colour) {
  if (share >= 99.995) return `<circle cx="${r}" cy="${r}" r="${r}" fill="${colour}"/>`;
  const [x0, y0] = point(r, start / 100);
  const [x1, y1] = point(r, (start + share) / 100);
  const large = share > 50 ? 1 : 0;
  return `<path d="M${r},${r} L${x0},${y0} A${r},${r} 0 ${large} 1 ${x1},${y1} Z" fill="${colour}"/>`;
}

/** The marker's SVG: slices, white seams between them, a dark rim; a ring when contested. */
export function markerSvg(place, selected = false) {
  const r = radiusFor(place.population, place.status === "contested");
  const parts = slices(place.control);
  let start = 0;
  const body = parts
    .map((p) => {
      const svg = sliceSvg(r, start, p.share, p.colour);
      start += p.share;
      return svg;
    })
    .join("");
  const seams = parts.length > 1 ? seamsSvg(r, parts) : "";
  const hole = place.status === "contested" ? `<circle cx="${r}" cy="${r}" r="${(r * 0.42).toFixed(2)}" fill="#fff"/>` : "";
  const size = 2 * r;
  const rim = selected ? 'stroke="#0b57d0" stroke-width="3"' : 'stroke="#1d1d1d" stroke-width="1.2"';
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${size + 6}" height="${size + 6}" viewBox="-3 -3 ${size + 6} ${size + 6}" aria-hidden="true" focusable="false">` +
    `${body}${seams}${hole}<circle cx="${r}" cy="${r}" r="${r}" fill="none" ${rim}/></svg>`
  );
}

function seamsSvg(r, parts) {
  let start = 0;
  return parts
    .map((p) => {
      const [x, y] = point(r, start / 100);
      start += p.share;
      return `<line x1="${r}" y1="${r}" x2="${x}" y2="${y}" stroke="#fff" stroke-width="1.5"/>`;
    })
    .join("");
}
