// Builds the page as a static site to host apart from the Parley server (Vercel, or any static
// host): copies the page's files (*.html, *.js, *.css, react/…) into the output directory and
// writes its config.js with the server URL from PARLEY_SERVER_URL. No build step touches the
// source tree, and nothing but that URL is baked in: the site is public.
//
//   PARLEY_SERVER_URL=wss://parley.example.com/ws node build-site.mjs [--out DIR] [--require-server-url]
//
// Without PARLEY_SERVER_URL the site talks to `/ws` on its own host (a reverse proxy in front of
// both); `--require-server-url` (the Vercel build) makes that an error instead, since no Parley
// server runs on the Vercel host. `?server=` in the page's URL still overrides the baked URL.

import { copyFile, mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const SOURCE = path.dirname(fileURLToPath(import.meta.url));
/** Files that make up the site; everything else (tsconfig, types, this script) stays behind. */
const SITE_FILE = /\.(html|js|css)$/;
/** Folders of web/ that are not part of the site. */
const NOT_SITE = new Set(["dist", "types", "node_modules"]);
const CONFIG = "config.js";

/** @param {string} message */
function fail(message) {
    console.error(`build-site: ${message}`);
    process.exit(1);
}

/**
 * The checked server URL, or null when none is set.
 * @param {string | undefined} raw
 * @param {boolean} required
 * @returns {string | null}
 */
function serverUrl(raw, required) {
    if (!raw) {
        if (required) {
            fail("PARLEY_SERVER_URL is not set. Set it to the Parley server's WebSocket URL, e.g. "
                + "wss://parley.example.com/ws (Vercel: Settings → Environment Variables, then redeploy); "
                + "without it the page would look for /ws on its own host, where no Parley server runs.");
        }
        return null;
    }
    /** @type {URL} */
    let url;
    try {
        url = new URL(raw);
    } catch {
        return fail(`PARLEY_SERVER_URL is not a URL: ${JSON.stringify(raw)} (expected e.g. wss://parley.example.com/ws)`);
    }
    if (url.protocol !== "wss:" && url.protocol !== "ws:") {
        fail(`PARLEY_SERVER_URL must start with wss:// (or ws:// for a server on this machine), not ${url.protocol}//`);
    }
    if (url.username || url.password) fail("PARLEY_SERVER_URL must not hold credentials: the built site is public");
    const local = ["localhost", "127.0.0.1", "[::1]"].includes(url.hostname);
    if (url.protocol === "ws:" && !local) {
        console.warn(`build-site: warning: ${raw} is not encrypted; a page served over https (Vercel) cannot open ws:// URLs`);
    }
    if (url.pathname === "/") console.warn(`build-site: warning: ${raw} has no path; Parley's WebSocket is at /ws`);
    return raw;
}

/**
 * Copies the site's files from `from` into `to`, recursively; returns the relative paths copied.
 * @param {string} from
 * @param {string} to
 * @param {string} outDir Absolute output directory, skipped if it lies inside the source.
 * @returns {Promise<string[]>}
 */
async function copySite(from, to, outDir) {
    /** @type {string[]} */
    const copied = [];
    for (const entry of await readdir(from, { withFileTypes: true })) {
        const source = path.join(from, entry.name);
        if (entry.name.startsWith(".") || source === outDir) continue;
        if (entry.isDirectory()) {
            if (from === SOURCE && NOT_SITE.has(entry.name)) continue;
            const inner = await copySite(source, path.join(to, entry.name), outDir);
            copied.push(...inner.map((name) => path.join(entry.name, name)));
        } else if (entry.isFile() && SITE_FILE.test(entry.name) && !(from === SOURCE && entry.name === CONFIG)) {
            await mkdir(to, { recursive: true });
            await copyFile(source, path.join(to, entry.name));
            copied.push(entry.name);
        }
    }
    return copied;
}

/**
 * Relative references in the built files (imports, worklet URLs, src/href) that point at nothing
 * there: a file type the copy does not know would break the page only in the browser.
 * @param {string} outDir
 * @param {string[]} files
 * @returns {Promise<string[]>}
 */
async function missingReferences(outDir, files) {
    const reference = /(?:\bfrom\s*|\bimport\s*\(\s*|new URL\(\s*)["'](\.{1,2}\/[^"']+)["']|\b(?:src|href)="(?![a-z]+:|\/|#)([^"?#]+)"/g;
    /** @type {string[]} */
    const missing = [];
    for (const file of files) {
        const text = await readFile(path.join(outDir, file), "utf8");
        for (const match of text.matchAll(reference)) {
            const target = path.join(outDir, path.dirname(file), match[1] ?? match[2]);
            const found = await stat(target).then((info) => info.isFile(), () => false);
            if (!found) missing.push(`${file} → ${match[1] ?? match[2]}`);
        }
    }
    return missing;
}

const { values } = parseArgs({
    options: { "out": { type: "string", default: "dist" }, "require-server-url": { type: "boolean", default: false } },
});
const outDir = path.resolve(SOURCE, values.out ?? "dist");
const url = serverUrl(process.env.PARLEY_SERVER_URL?.trim(), values["require-server-url"] ?? false);
if (!/export const SERVER_URL\b/.test(await readFile(path.join(SOURCE, CONFIG), "utf8"))) {
    fail(`${CONFIG} no longer exports SERVER_URL; update build-site.mjs with it`);
}

await rm(outDir, { recursive: true, force: true });
const files = await copySite(SOURCE, outDir, outDir);
await writeFile(path.join(outDir, CONFIG), [
    "// Written by build-site.mjs from PARLEY_SERVER_URL: the Parley server this site talks to.",
    "",
    "/** @type {string | null} */",
    `export const SERVER_URL = ${JSON.stringify(url)};`,
    "",
].join("\n"));
files.push(CONFIG);
const missing = await missingReferences(outDir, files.filter((file) => /\.(html|js)$/.test(file)));
if (missing.length > 0) fail(`the built site refers to files it lacks: ${missing.join(", ")}`);
const shown = path.relative(process.cwd(), outDir);
console.log(`build-site: ${files.length} files in ${shown.startsWith("..") ? outDir : shown || "."}; `
    + `server ${url ?? "/ws on the page's own host (PARLEY_SERVER_URL unset)"}`);
