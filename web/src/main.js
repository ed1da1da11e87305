// The map page: wires the read API's answers to the map, the lists, the table and the panel.
import { all, get } from "./api.js";
import { installKeyControls } from "./keyform.js";
import { learnShortNames, when } from "./format.js";
import { renderActors, renderContested, renderSearch } from "./lists.js";
import { follow } from "./live.js";
import { MapView } from "./mapview.js";
import { loadPanel, renderPanel } from "./panel.js";
import { renderTable } from "./table.js";
import { dayNumber, dayText, HistoryRange } from "./timeline.js";
import { readState, timeParams, writeState } from "./viewstate.js";

const $ = (id) => document.getElementById(id);
const state = readState();
const range = new HistoryRange();
let map;
let refreshing = null;
let again = false;

async function refresh() {
  // One refresh at a time; a request for another while one runs makes one more run after it.
  if (refreshing) {
    again = true;
    return refreshing;
  }
  refreshing = (async () => {
    do {
      again = false;
      try {
        await render();
      } catch (error) {
        offline(error); // the next change, or the reader's next move, tries again
      }
    } while (again);
  })().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

async function render() {
  const time = timeParams(state);
  const [places, contested, actors] = await Promise.all([
    all("/v1/places.geojson", time),
    all("/v1/contested", time),
    all("/v1/actors", time),
  ]);
  learnShortNames(actors.items);
  await renderSelected(); // first: the panel takes room from the map, which then frames its places
  const located = places.items;
  map.show(located);
  renderTable($("places-table").tBodies[0], located.map((f) => f.properties));
  renderContested($("contested"), $("contested-count"), contested.items);
  renderActors($("actors").tBodies[0], actors.items);
  summarise(located, contested.items);
  showPosition(places.position);
  await search();
  document.body.dataset.ready = "true";
}

function summarise(features, contested) {
  const moment = state.asOf ? `on ${when(state.asOf)}` : "now (latest)";
  const known = state.knownThen && state.asOf ? ", as it was known then" : "";
  $("viewing").textContent = `Who holds what ${moment}${known}`;
  $("map-summary").textContent = `${features.length} places on the map ${moment}${known}; ${contested.length} contested.`;
  $("map-empty").hidden = features.length > 0;
  $("map-empty").textContent = known
    ? `Nothing had been reported by ${when(state.asOf)}.`
    : `No place with a location is recorded ${moment}.`;
}

async function renderSelected() {
  const panel = $("panel");
  if (!state.place) {
    if (!panel.hidden) {
      panel.hidden = true;
      map.invalidate();
    }
    return;
  }
  const time = timeParams(state);
  const data = await loadPanel(state.place, time);
  if (data.changed || panel.hidden || panel.dataset.for !== panelKey()) renderPanel($("panel-body"), state.place, data, time);
  panel.dataset.for = panelKey();
  if (panel.hidden) {
    panel.hidden = false;
    map.invalidate();
  }
}

const panelKey = () => JSON.stringify([state.place, state.asOf, state.knownThen]);

async function select(placeId) {
  state.place = placeId;
  writeState(state);
  map.select(placeId);
  await renderSelected();
  $("panel").focus();
  const entry = map.markers.get(placeId);
  if (entry) map.focus(entry.place);
}

async function search() {
  const query = $("search").value.trim();
  if (!query) return renderSearch($("search-results"), [], "");
  const found = await get("/v1/places", { q: query, limit: 50, ...timeParams(state) });
  if ($("search").value.trim() === query) renderSearch($("search-results"), found.body.items, query);
}

// ---- time controls -------------------------------------------------------------------------

function setDate(date) {
  state.asOf = date || null;
  syncTimeControls();
  writeState(state);
  refresh();
}

function syncTimeControls() {
  const slider = $("slider");
  if (range.first) {
    const first = dayNumber(range.first);
    const last = Math.max(dayNumber(range.last), state.asOf ? dayNumber(state.asOf) : 0);
    slider.min = String(Math.min(first, state.asOf ? dayNumber(state.asOf) : first));
    slider.max = String(last);
    slider.value = String(state.asOf ? dayNumber(state.asOf) : last);
    $("range-start").textContent = when(range.first);
    $("range-end").textContent = when(range.last);
    $("event-days").innerHTML = [...range.days].map((d) => `<option value="${dayNumber(d)}"></option>`).join("");
  }
  slider.disabled = !range.first;
  slider.setAttribute("aria-valuetext", state.asOf ? when(state.asOf) : "latest");
  $("as-of").value = state.asOf ?? "";
  $("latest").setAttribute("aria-pressed", String(!state.asOf));
  $("known").checked = state.knownThen;
  $("known-hint").textContent = state.asOf
    ? state.knownThen
      ? `Only what had been reported by ${when(state.asOf)}.`
      : `What was true on ${when(state.asOf)}, as known now.`
    : "Pick a date to see what was known then.";
}

function installTimeControls() {
  $("slider").addEventListener("input", (e) => setDate(dayText(Number(e.target.value))));
  $("as-of").addEventListener("change", (e) => setDate(e.target.value));
  $("latest").addEventListener("click", () => setDate(null));
  $("known").addEventListener("change", (e) => {
    state.knownThen = e.target.checked;
    setDate(state.asOf);
  });
}

// ---- the rest of the page -------------------------------------------------------------------

function installViews() {
  const tabs = [$("tab-map"), $("tab-table")];
  const show = (view) => {
    state.view = view;
    writeState(state);
    for (const tab of tabs) {
      const on = tab.id === `tab-${view}`;
      tab.setAttribute("aria-selected", String(on));
      tab.tabIndex = on ? 0 : -1;
      $(tab.getAttribute("aria-controls")).hidden = !on;
    }
    if (view === "map") map.invalidate();
  };
  tabs.forEach((tab, i) => {
    tab.addEventListener("click", () => show(tab.id.slice(4)));
    tab.addEventListener("keydown", (e) => {
      if (e.key !== "ArrowLeft" && e.key !== "ArrowRight") return;
      const next = tabs[(i + 1) % tabs.length];
      next.focus();
      show(next.id.slice(4));
    });
  });
  show(state.view);
  document.addEventListener("click", (e) => {
    const link = e.target.closest(".place-link");
    if (link) select(link.dataset.placeId);
  });
  $("panel-close").addEventListener("click", () => {
    state.place = null;
    writeState(state);
    map.select(null);
    renderSelected();
  });
  let typing;
  $("search").addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(search, 200);
  });
  $("search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    search();
  });
  $("notice-close").addEventListener("click", () => ($("notice").hidden = true));
}

function showPosition(position) {
  if (Number.isFinite(position)) document.body.dataset.position = String(position);
  $("live-text").textContent = `live · read model at position ${document.body.dataset.position ?? "–"}`;
  $("live").classList.remove("offline");
}

function offline(error) {
  $("live-text").textContent = "API unreachable · retrying";
  $("live").classList.add("offline");
  $("live").title = String(error);
}

function notice(text) {
  $("notice-text").textContent = text;
  $("notice").hidden = false;
}

function goLive(after) {
  follow({
    after,
    onPosition: showPosition,
    onChange: async () => {
      if (await range.extend()) syncTimeControls();
      refresh();
    },
    onReplay: (generation) => {
      notice(`A replay rebuilt the read models (generation ${generation}); the view now shows the rebuilt ones.`);
      refresh();
    },
    onError: offline,
  });
}

async function start() {
  map = new MapView($("map"), { onSelect: select });
  if (state.place) map.select(state.place);
  installTimeControls();
  installViews();
  installKeyControls(() => refresh());
  syncTimeControls();
  await range.extend();
  syncTimeControls();
  await refresh();
  goLive(Number(document.body.dataset.position ?? 0));
}

start();
