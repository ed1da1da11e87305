// The place panel: who holds it and since when, on whose reports, and its history as recorded,
// corrections and retractions included.
import { get } from "./api.js";
import { escape, population, shortName, share, split, status, when } from "./format.js";
import { swatch } from "./lists.js";

export async function loadPanel(placeId, time) {
  const [place, history] = await Promise.all([
    get(`/v1/places/${encodeURIComponent(placeId)}`, time),
    get(`/v1/places/${encodeURIComponent(placeId)}/history`, { limit: 1000 }),
  ]);
  return { place: place.body, history: history.body?.items ?? [], changed: place.changed || history.changed };
}

export function renderPanel(element, placeId, { place, history }, time) {
  if (!place) {
    const moment = time.known_at ? "as it was known then" : "at this date";
    element.innerHTML = `<h2 id="panel-title">${escape(placeId)}</h2><p class="empty">This place was not recorded ${moment}.</p>`;
    return;
  }
  const where = place.location ? `${place.location.lat.toFixed(3)}, ${place.location.lon.toFixed(3)}` : "no location";
  element.innerHTML = `
    <h2 id="panel-title">${escape(place.name)}</h2>
    <p class="meta">${escape(place.kind)} · ${escape(place.country)} · pop. ${population(place.population)} · ${where}</p>
    <p class="status-line"><span class="status status-${place.status}">${escape(status(place))}</span>
      ${place.changed_at ? `since ${when(place.changed_at)}` : ""}</p>
    <h3>Control${time.as_of ? ` on ${when(time.as_of)}` : ""}</h3>
    ${controlTable(place)}
    <h3>Sources</h3>
    ${place.sources.length ? `<ul class="sources">${place.sources.map((s) => `<li><code>${escape(s)}</code></li>`).join("")}</ul>` : `<p class="empty">None.</p>`}
    <h3>History <span class="count">(${history.length} claims, as recorded now)</span></h3>
    <ol class="history">${history.map(historyItem).join("")}</ol>`;
}

function controlTable(place) {
  if (!place.control.length) return `<p class="empty">No holder known.</p>`;
  const rows = place.control
    .map(
      (h) => `<tr><th scope="row">${swatch(h.actor_id, h.actor)}${escape(h.actor)}</th>
      <td class="num">${share(h.share)} %</td><td>${when(h.since)}</td></tr>`,
    )
    .join("");
  const held = place.control.reduce((s, h) => s + h.share, 0);
  const rest = held < 99.995 ? `<tr><th scope="row">${swatch(null, "unattributed")}unattributed</th><td class="num">${share(Math.round((100 - held) * 100) / 100)} %</td><td></td></tr>` : "";
  return `<table class="control" aria-label="Control of ${escape(place.name)}: ${escape(split(place.control))}">
    <thead><tr><th scope="col">Holder</th><th scope="col" class="num">Share</th><th scope="col">Since</th></tr></thead>
    <tbody>${rows}${rest}</tbody></table>`;
}

function historyItem(item) {
  const from = item.from_actor_id ? ` from ${escape(shortName(item.from_actor_id))}` : "";
  const classes = ["event", item.retracted ? "retracted" : "", item.corrections.length ? "corrected" : ""].join(" ");
  const badges = [
    item.retracted ? `<span class="badge badge-retracted">retracted</span>` : "",
    item.corrections.length ? `<span class="badge badge-corrected">corrected</span>` : "",
  ].join("");
  return `<li class="${classes}" data-event-id="${escape(item.event_id)}">
    <div class="event-head"><time>${when(item.occurred_at)}</time> ${badges}</div>
    <div class="claim">${swatch(item.actor_id, item.actor)}<strong>${escape(item.actor)}</strong> ${share(item.share)} %${from}</div>
    ${item.note ? `<p class="note">${escape(item.note)}</p>` : ""}
    <p class="provenance">report <code>${escape(item.report_id ?? "–")}</code> · position ${item.position} · recorded ${when(item.recorded_at)}</p>
    ${item.retraction ? retraction(item.retraction) : ""}
    ${item.corrections.map(correction).join("")}
  </li>`;
}

function correction(c) {
  const fields = Object.entries(c.changes)
    .map(([name, value]) => `<li><span class="field">${escape(name)}</span> → ${escape(typeof value === "object" ? JSON.stringify(value) : value)}</li>`)
    .join("");
  return `<div class="amendment correction"><p><strong>Correction</strong> at position ${c.position}, recorded ${when(c.recorded_at)}${c.reason ? `: ${escape(c.reason)}` : ""}</p><ul>${fields}</ul></div>`;
}

function retraction(r) {
  return `<div class="amendment retraction"><p><strong>Retracted</strong>${r.position ? ` at position ${r.position}` : ""}${r.recorded_at ? `, recorded ${when(r.recorded_at)}` : ""}${r.reason ? `: ${escape(r.reason)}` : ""}</p></div>`;
}
