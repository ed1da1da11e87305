// What the reader is looking at, held in the URL's query so that a link reproduces the view.
const DATE = /^\d{4}-\d{2}-\d{2}$/;

export function readState() {
  const q = new URLSearchParams(location.search);
  const asOf = DATE.test(q.get("as_of") ?? "") ? q.get("as_of") : null;
  return {
    asOf, // null: the latest state
    knownThen: q.get("known") === "1",
    place: q.get("place") || null,
    view: q.get("view") === "table" ? "table" : "map",
  };
}

export function writeState(state) {
  const q = new URLSearchParams();
  if (state.asOf) q.set("as_of", state.asOf);
  if (state.knownThen) q.set("known", "1");
  if (state.place) q.set("place", state.place);
  if (state.view !== "map") q.set("view", state.view);
  const search = q.toString();
  const target = `${location.pathname}${search ? `?${search}` : ""}`;
  if (target !== `${location.pathname}${location.search}`) history.replaceState(null, "", target);
}

/** The read API's time parameters for a state: known_at follows as_of when "as known then" is on. */
export function timeParams(state) {
  return {
    as_of: state.asOf,
    known_at: state.knownThen && state.asOf ? state.asOf : null,
  };
}
