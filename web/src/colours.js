// Actor colours: the Okabe–Ito palette (distinguishable with every common colour-vision
// deficiency), assigned by actor_id alone, so a colour never moves when other actors come and go.
const PALETTE = {
  black: "#000000",
  orange: "#E69F00",
  sky: "#56B4E9",
  green: "#009E73",
  yellow: "#F0E442",
  blue: "#0072B2",
  vermillion: "#D55E00",
  purple: "#CC79A7",
};

// The built-in actors, in the colours conflict maps of the region have made familiar.
const FIXED = {
  "islamic-state": PALETTE.black,
  "syrian-arab-army": PALETTE.vermillion,
  "iraqi-security-forces": PALETTE.purple,
  "syrian-democratic-forces": PALETTE.yellow,
  peshmerga: PALETTE.orange,
  "us-led-coalition": PALETTE.blue,
  "popular-mobilization-forces": PALETTE.green,
};
const OTHERS = [PALETTE.sky, PALETTE.green, PALETTE.orange, PALETTE.blue, PALETTE.purple, PALETTE.yellow];
export const UNATTRIBUTED = "#c9c9c9";

function hash(text) {
  let h = 2166136261; // FNV-1a: small, and the same in every browser
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

export function colourOf(actorId) {
  return FIXED[actorId] ?? OTHERS[hash(actorId) % OTHERS.length];
}

/** Dark text on light colours, light text on dark ones. */
export function inkOn(colour) {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(colour.slice(i, i + 2), 16));
  return 0.299 * r + 0.587 * g + 0.114 * b > 140 ? "#111" : "#fff";
}
