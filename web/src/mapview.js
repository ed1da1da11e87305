// The Leaflet map: the offline basemap under one marker per located place.
import L from "leaflet";

import basemap from "../build/basemap.json";
import { escape, population, split, status } from "./format.js";
import { markerSvg, radiusFor } from "./markers.js";

const HOME = [
  [31.2, 35.6],
  [37.4, 47.6],
]; // Iraq and Syria

const RIVER_LABELS = [
  ["Euphrates", [35.62, 39.45]],
  ["Tigris", [34.95, 43.78]],
];
const COUNTRY_LABELS = [
  ["IRAQ", [32.6, 43.2]],
  ["SYRIA", [35.05, 38.1]],
  ["TURKEY", [38.7, 38.0]],
  ["IRAN", [33.4, 48.6]],
  ["JORDAN", [31.0, 36.9]],
  ["SAUDI ARABIA", [29.2, 41.4]],
  ["LEBANON", [33.95, 35.55]],
];

export class MapView {
  constructor(element, { onSelect }) {
    const [w, s, e, n] = basemap.region;
    this.map = L.map(element, {
      zoomSnap: 0.25,
      minZoom: 5,
      maxZoom: 12,
      maxBounds: [
        [s, w],
        [n, e],
      ],
      maxBoundsViscosity: 0.8,
      attributionControl: true,
      keyboard: true,
    });
    this.map.attributionControl.setPrefix(false);
    this.map.attributionControl.addAttribution("Leaflet · basemap: Natural Earth");
    this.map.fitBounds(HOME);
    L.control.scale({ imperial: false, position: "bottomleft" }).addTo(this.map);
    this.drawBasemap();
    this.layer = L.layerGroup().addTo(this.map);
    this.markers = new Map(); // place_id -> { marker, key }
    this.onSelect = onSelect;
    this.selected = null;
  }

  drawBasemap() {
    const pane = this.map.createPane("basemap");
    pane.style.zIndex = 200;
    const options = (style) => ({ pane: "basemap", interactive: false, style });
    L.geoJSON(basemap.land, options({ color: "#c8c2b4", weight: 0.8, fillColor: "#f3efe6", fillOpacity: 1 })).addTo(this.map);
    L.geoJSON(basemap.lakes, options({ stroke: false, fillColor: "#cfe0ee", fillOpacity: 1 })).addTo(this.map);
    L.geoJSON(basemap.rivers, options({ color: "#7fa9cf", weight: 1.6, opacity: 0.9 })).addTo(this.map);
    L.geoJSON(basemap.borders, options({ color: "#8a8478", weight: 1.1, dashArray: "5 3" })).addTo(this.map);
    for (const [text, at] of COUNTRY_LABELS) this.label(text, at, "country-label");
    for (const [text, at] of RIVER_LABELS) this.label(text, at, "river-label");
  }

  label(text, at, className) {
    const icon = L.divIcon({ className, html: escape(text), iconSize: null });
    L.marker(at, { icon, interactive: false, keyboard: false, pane: "basemap" }).addTo(this.map);
  }

  /** Show these places (Features of /v1/places.geojson), updating markers in place. */
  show(features) {
    if (!this.framed && features.length) this.frame(features);
    const seen = new Set();
    for (const feature of features) {
      const place = feature.properties;
      seen.add(place.place_id);
      const key = JSON.stringify([place.control, place.status, place.name, place.population]);
      const current = this.markers.get(place.place_id);
      if (current && current.key === key) continue;
      if (current) this.layer.removeLayer(current.marker);
      this.markers.set(place.place_id, { marker: this.marker(feature), key, place });
    }
    for (const [placeId, { marker }] of this.markers) {
      if (!seen.has(placeId)) {
        this.layer.removeLayer(marker);
        this.markers.delete(placeId);
      }
    }
  }

  marker(feature) {
    const place = feature.properties;
    const [lon, lat] = feature.geometry.coordinates;
    const r = radiusFor(place.population, place.status === "contested");
    const icon = L.divIcon({
      className: `place-marker status-${place.status}`,
      html: `${markerSvg(place, place.place_id === this.selected)}<span class="place-name" style="left:${2 * r + 8}px">${escape(place.name)}</span>`,
      iconSize: [2 * r + 6, 2 * r + 6],
      iconAnchor: [r + 3, r + 3],
    });
    const marker = L.marker([lat, lon], { icon, keyboard: true, riseOnHover: true, zIndexOffset: place.status === "contested" ? 1000 : -Math.round(r) });
    marker.bindTooltip(tooltip(place), { direction: "top", offset: [0, -r], className: "place-tip" });
    marker.on("click", () => this.onSelect(place.place_id));
    // Leaflet makes a marker focusable (role=button) but no longer turns Enter into a click.
    marker.on("keydown", ({ originalEvent: e }) => {
      if (e.key !== "Enter" && e.key !== " ") return;
      e.preventDefault();
      this.onSelect(place.place_id);
    });
    marker.on("add", () => {
      const element = marker.getElement();
      element.setAttribute("aria-label", `${place.name}: ${status(place)}${place.control.length ? `, ${split(place.control)}` : ""}`);
      element.dataset.placeId = place.place_id;
      element.dataset.split = split(place.control);
    });
    return marker.addTo(this.layer);
  }

  /** The first time there are places: zoom to them (within the region the basemap covers). */
  frame(features) {
    this.framed = true;
    const bounds = L.latLngBounds(features.map((f) => [f.geometry.coordinates[1], f.geometry.coordinates[0]]));
    this.map.fitBounds(bounds.pad(0.25), { maxZoom: 8 });
  }

  select(placeId) {
    const previous = this.selected;
    this.selected = placeId;
    for (const id of [previous, placeId]) {
      const entry = id && this.markers.get(id);
      if (entry) {
        this.layer.removeLayer(entry.marker);
        entry.marker = this.marker({ properties: entry.place, geometry: { coordinates: [entry.place.location.lon, entry.place.location.lat] } });
      }
    }
  }

  focus(place) {
    if (!place.location) return;
    const at = L.latLng(place.location.lat, place.location.lon);
    if (!this.map.getBounds().pad(-0.1).contains(at)) this.map.panTo(at);
  }

  invalidate() {
    this.map.invalidateSize();
  }
}

function tooltip(place) {
  const holders = place.control.length ? escape(split(place.control)) : "no holder known";
  return `<strong>${escape(place.name)}</strong><br>${holders}<br><span class="muted">${escape(status(place))} · pop. ${population(place.population)}</span>`;
}
