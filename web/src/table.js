// The table view: the map's data as rows, for screen readers, keyboards and copying.
import { escape, population, split, status, when } from "./format.js";
import { pieBar } from "./lists.js";

export function renderTable(tbody, places) {
  const sorted = [...places].sort((a, b) => (b.population ?? 0) - (a.population ?? 0) || a.name.localeCompare(b.name));
  tbody.innerHTML = sorted.length
    ? sorted
        .map(
          (p) => `<tr data-place-id="${escape(p.place_id)}">
      <th scope="row"><button type="button" class="place-link" data-place-id="${escape(p.place_id)}">${escape(p.name)}</button></th>
      <td>${escape(p.country)}</td><td><span class="status status-${p.status}">${escape(status(p))}</span></td>
      <td>${pieBar(p.control)} ${escape(split(p.control) || "–")}</td>
      <td class="num">${population(p.population)}</td><td>${when(p.changed_at)}</td></tr>`,
        )
        .join("")
    : `<tr><td colspan="6" class="empty">No place recorded at this date.</td></tr>`;
}
