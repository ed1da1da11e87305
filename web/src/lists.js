// The lists beside the map: actors' holdings (with the legend's colours), contested places, search.
import { colourOf, UNATTRIBUTED } from "./colours.js";
import { escape, population, shortName, split } from "./format.js";

function placeButton(place, detail) {
  return `<button type="button" class="place-link" data-place-id="${escape(place.place_id)}">
    <span class="name">${escape(place.name)}</span> <span class="country">${escape(place.country)}</span>
    <span class="detail">${detail}</span></button>`;
}

export function swatch(actorId, label) {
  const colour = actorId ? colourOf(actorId) : UNATTRIBUTED;
  return `<span class="swatch" style="background:${colour}" role="img" aria-label="${escape(label)} colour"></span>`;
}

export function renderActors(tbody, actors) {
  const holding = actors.filter((a) => a.places_held > 0);
  const rows = holding
    .sort((a, b) => b.population_controlled - a.population_controlled || a.actor_id.localeCompare(b.actor_id))
    .map(
      (a) => `<tr data-actor-id="${escape(a.actor_id)}">
        <th scope="row">${swatch(a.actor_id, a.name)}<span class="actor-name">${escape(a.name)}</span>
          <abbr class="short">${escape(shortName(a.actor_id, a.name))}</abbr></th>
        <td class="num">${a.places_held}</td>
        <td class="num">${population(a.population_controlled)}</td></tr>`,
    );
  tbody.innerHTML = rows.length ? rows.join("") : `<tr><td colspan="3" class="empty">No place is held at this date.</td></tr>`;
}

export function renderContested(list, count, places) {
  count.textContent = places.length ? `(${places.length})` : "";
  list.innerHTML = places.length
    ? places.map((p) => `<li>${placeButton(p, pieBar(p.control) + escape(split(p.control)))}</li>`).join("")
    : `<li class="empty">No contested place at this date.</li>`;
}

export function renderSearch(list, places, query) {
  if (!query) {
    list.innerHTML = "";
    return;
  }
  list.innerHTML = places.length
    ? places
        .slice(0, 12)
        .map((p) => `<li>${placeButton(p, escape(p.control.length ? split(p.control) : "no holder known"))}</li>`)
        .join("")
    : `<li class="empty">No recorded place matches “${escape(query)}”.</li>`;
}

/** A thin bar of the split, for lists (the map marker's pie, flattened). */
export function pieBar(control) {
  const held = control.reduce((s, h) => s + h.share, 0);
  const parts = control.map((h) => `<span style="width:${h.share}%;background:${colourOf(h.actor_id)}"></span>`);
  if (held < 99.995) parts.push(`<span style="width:${100 - held}%;background:${UNATTRIBUTED}"></span>`);
  return `<span class="bar" aria-hidden="true">${parts.join("")}</span>`;
}
